# Rendered by hybridctl for "win1": runs at every boot (scheduled task, as SYSTEM).
# Restores the pod network first, then starts the node agents in dependency order:
# containerd -> kubelet -> kube-proxy, after the L2Bridge network, its host endpoint and the routes to the
# other nodes' pod CIDRs are back. This script also creates the network the first time.
# Safe to run at any time: every step checks before it changes anything.
$ErrorActionPreference = 'Stop'

$LogDir = 'C:\var\log\hybridctl'
$NetworkName = 'cbr0'
$InterfaceAlias = 'vEthernet (Ethernet)'

function Write-BootLog {
    param(
        [string]$Message
    )
    if (-not (Test-Path -Path $LogDir)) {
        New-Item -ItemType Directory -Path $LogDir -Force | Out-Null
    }
    $line = (Get-Date).ToString('o') + ' ' + $Message
    Add-Content -Path (Join-Path $LogDir 'boot.log') -Value $line -Encoding ascii
    Write-Output $line
}

function Start-NodeService {
    param(
        [string]$Name
    )
    $service = Get-Service -Name $Name -ErrorAction SilentlyContinue
    if ($null -eq $service) {
        throw ('service ' + $Name + ' is not installed')
    }
    if ($service.Status -ne 'Running') {
        Start-Service -Name $Name
        Write-BootLog ('started ' + $Name)
    }
}

# HNS is reached through HNSCall in vmcompute.dll, as microsoft/SDN's hns.psm1 does, so the boot path
# needs no module that could be missing.
$HnsSignature = @'
[DllImport("vmcompute.dll")]
public static extern void HNSCall([MarshalAs(UnmanagedType.LPWStr)] string method, [MarshalAs(UnmanagedType.LPWStr)] string path, [MarshalAs(UnmanagedType.LPWStr)] string request, [MarshalAs(UnmanagedType.LPWStr)] out string response);
'@
$HnsApi = Add-Type -MemberDefinition $HnsSignature -Namespace 'Hybridctl.Hns' -Name 'NativeMethods' -PassThru

function Invoke-Hns {
    param(
        [string]$Method,
        [string]$Path,
        [string]$Request
    )
    $response = ''
    $HnsApi::HNSCall($Method, $Path, $Request, [ref]$response)
    $reply = $response | ConvertFrom-Json
    if ($reply.Error) {
        throw ('HNS ' + $Method + ' ' + $Path + ' failed: ' + $reply.Error)
    }
    return $reply.Output
}

function Get-HnsObjectByName {
    param(
        [string]$Kind,
        [string]$Name
    )
    foreach ($item in (Invoke-Hns -Method 'GET' -Path ('/' + $Kind) -Request '')) {
        if ($item.Name -eq $Name) {
            return $item
        }
    }
    return $null
}

function Wait-HnsNetwork {
    param(
        [int]$Seconds
    )
    $deadline = (Get-Date).AddSeconds($Seconds)
    while ((Get-Date) -lt $deadline) {
        if ($null -ne (Get-HnsObjectByName -Kind 'networks' -Name $NetworkName)) {
            return
        }
        Start-Sleep -Seconds 2
    }
    throw ('HNS network ' + $NetworkName + ' did not appear within ' + $Seconds + ' seconds')
}

function Restore-BridgeNetwork {
    $definition = Get-Content -Path 'C:\k\hybridctl\hns-network.json' -Raw | ConvertFrom-Json
    $network = Get-HnsObjectByName -Kind 'networks' -Name $definition.Name
    if ($null -eq $network) {
        # A host endpoint left from a network that is gone blocks creating it again.
        $stale = Get-HnsObjectByName -Kind 'endpoints' -Name $definition.HostEndpoint.Name
        if ($null -ne $stale) {
            Invoke-Hns -Method 'DELETE' -Path ('/endpoints/' + $stale.ID) -Request '' | Out-Null
            Write-BootLog ('removed stale HNS endpoint ' + $definition.HostEndpoint.Name)
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
        Write-BootLog ('created HNS network ' + $definition.Name)
        # Creating the first external network rebinds the NIC to a vSwitch; connectivity drops briefly.
        Start-Sleep -Seconds 10
    }
    $endpoint = Get-HnsObjectByName -Kind 'endpoints' -Name $definition.HostEndpoint.Name
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
        Write-BootLog ('created host endpoint ' + $definition.HostEndpoint.Name)
    }
    # The node forwards between its pods (behind the host endpoint) and the other nodes.
    $bridgeAlias = 'vEthernet (' + $definition.HostEndpoint.Name + ')'
    Set-NetIPInterface -InterfaceAlias $bridgeAlias -AddressFamily IPv4 -Forwarding Enabled
    Set-NetIPInterface -InterfaceAlias $InterfaceAlias -AddressFamily IPv4 -Forwarding Enabled
}

Write-BootLog ('boot script for ' + $env:COMPUTERNAME + ', network ' + $NetworkName)
# kube-proxy would program load balancers against a network that is still being restored.
Stop-Service -Name 'kube-proxy' -ErrorAction SilentlyContinue
Start-NodeService -Name 'containerd'
Restore-BridgeNetwork
Wait-HnsNetwork -Seconds 60
& 'C:\k\hybridctl\routes.ps1'
Start-NodeService -Name 'kubelet'
Start-NodeService -Name 'kube-proxy'
Write-BootLog 'node agents running'
