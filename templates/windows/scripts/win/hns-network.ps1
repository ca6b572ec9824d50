# hybridctl-script: win/hns-network
# Creates the node's L2Bridge HNS network and its host endpoint from hybridctl's hns-network.json when
# they are missing (a stale host endpoint of a network that is gone is removed first), attaches the
# endpoint to the host and turns on forwarding. Creating the first external network rebinds the NIC to a
# vSwitch, so this script's answer may be lost; hybridctl reconnects and checks again.
# Returns {"networkCreated": bool, "endpointCreated": bool}.
param(
    [Parameter(Mandatory = $true)]
    [string]$DefinitionPath,
    [Parameter(Mandatory = $true)]
    [string]$InterfaceAlias
)
$ErrorActionPreference = 'Stop'

$signature = @'
[DllImport("vmcompute.dll")]
public static extern void HNSCall([MarshalAs(UnmanagedType.LPWStr)] string method, [MarshalAs(UnmanagedType.LPWStr)] string path, [MarshalAs(UnmanagedType.LPWStr)] string request, [MarshalAs(UnmanagedType.LPWStr)] out string response);
'@
$api = Add-Type -MemberDefinition $signature -Namespace 'Hybridctl.HnsNetwork' -Name 'NativeMethods' -PassThru

function Invoke-Hns {
    param(
        [string]$Method,
        [string]$Path,
        [string]$Request
    )
    $response = ''
    $api::HNSCall($Method, $Path, $Request, [ref]$response)
    $reply = $response | ConvertFrom-Json
    if ($reply.Error) {
        throw ('HNS ' + $Method + ' ' + $Path + ' failed: ' + $reply.Error)
    }
    return $reply.Output
}

function Get-HnsObject {
    param(
        [string]$Kind,
        [string]$Name
    )
    foreach ($item in @(Invoke-Hns -Method 'GET' -Path ('/' + $Kind) -Request '')) {
        if (($null -ne $item) -and ($item.Name -eq $Name)) {
            return $item
        }
    }
    return $null
}

$definition = Get-Content -LiteralPath $DefinitionPath -Raw | ConvertFrom-Json
$networkCreated = $false
$endpointCreated = $false
$network = Get-HnsObject -Kind 'networks' -Name $definition.Name
if ($null -eq $network) {
    $stale = Get-HnsObject -Kind 'endpoints' -Name $definition.HostEndpoint.Name
    if ($null -ne $stale) {
        Invoke-Hns -Method 'DELETE' -Path ('/endpoints/' + $stale.ID) -Request '' | Out-Null
    }
    $subnet = @{
        AddressPrefix = $definition.AddressPrefix
        GatewayAddress = $definition.Gateway
    }
    $request = @{
        Name = $definition.Name
        Type = $definition.Type
        NetworkAdapterName = $definition.AdapterName
        Subnets = @($subnet)
    }
    $network = Invoke-Hns -Method 'POST' -Path '/networks' -Request (ConvertTo-Json $request -Depth 5)
    $networkCreated = $true
    # The NIC was rebound to a vSwitch: wait for the management address to come back before going on.
    Start-Sleep -Seconds 10
}
$endpoint = Get-HnsObject -Kind 'endpoints' -Name $definition.HostEndpoint.Name
if ($null -eq $endpoint) {
    $request = @{
        Name = $definition.HostEndpoint.Name
        VirtualNetwork = $network.ID
        IPAddress = $definition.HostEndpoint.IPAddress
        GatewayAddress = '0.0.0.0'
    }
    $endpoint = Invoke-Hns -Method 'POST' -Path '/endpoints' -Request (ConvertTo-Json $request)
    $attach = @{
        SystemType = 'Host'
        CompartmentId = 1
    }
    Invoke-Hns -Method 'POST' -Path ('/endpoints/' + $endpoint.ID + '/attach') -Request (ConvertTo-Json $attach) | Out-Null
    $endpointCreated = $true
}
$bridgeAlias = 'vEthernet (' + $definition.HostEndpoint.Name + ')'
Set-NetIPInterface -InterfaceAlias $bridgeAlias -AddressFamily IPv4 -Forwarding Enabled
Set-NetIPInterface -InterfaceAlias $InterfaceAlias -AddressFamily IPv4 -Forwarding Enabled
@{ networkCreated = $networkCreated; endpointCreated = $endpointCreated } | ConvertTo-Json -Compress
