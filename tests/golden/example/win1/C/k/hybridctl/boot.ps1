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

# The network is restored by the very script hybridctl runs over WinRM (win/hns-network), held here as a
# script block: it keeps a matching network, attaches the host endpoint on every boot (a reboot leaves it
# detached, flannel-io/flannel#1391, #1858) and polls for the management IP instead of sleeping.
$RestoreBridgeNetwork = {
# hybridctl-script: win/hns-network
# Makes the node's L2Bridge HNS network and its host endpoint match hybridctl's hns-network.json, the way
# flannel's host-gw backend does (flannel-io/flannel pkg/backend/hostgw/hostgw_windows.go):
# - an existing network is kept when one of its subnets has the wanted address prefix and gateway. Its Type
#   is compared case-insensitively and NetworkAdapterName not at all: HNS reports a network created as 'L2Bridge' as 'l2bridge'
#   with an empty NetworkAdapterName (flannel-io/flannel#833). A network that differs is recreated only
#   while no pod endpoint is attached to it; otherwise this script refuses (drain the node first).
# - after creating a network it polls for the management IP and for an interface holding it (flannel
#   waits 30 s and 5 s) instead of sleeping a fixed time: a slow vNIC takes longer than any fixed sleep.
# - the host endpoint is attached on every run and "already attached" counts as success
#   (flannel-io/flannel#1391); after a reboot HNS keeps the network and the endpoint but the endpoint is
#   detached (flannel-io/flannel#1858). If 'vEthernet (<endpoint>)' is still missing, the endpoint is
#   recreated.
# Creating the first external network rebinds the NIC to a vSwitch, so this script's answer may be lost;
# hybridctl reconnects and checks again.
# Returns {"networkCreated": bool, "endpointCreated": bool}.
param(
    [Parameter(Mandatory = $true)]
    [string]$DefinitionPath,
    [Parameter(Mandatory = $true)]
    [string]$InterfaceAlias,
    [int]$TimeoutSeconds = 60
)
$ErrorActionPreference = 'Stop'

$signature = @'
[DllImport("vmcompute.dll")]
public static extern void HNSCall([MarshalAs(UnmanagedType.LPWStr)] string method, [MarshalAs(UnmanagedType.LPWStr)] string path, [MarshalAs(UnmanagedType.LPWStr)] string request, [MarshalAs(UnmanagedType.LPWStr)] out string response);
'@
$api = Add-Type -MemberDefinition $signature -Namespace 'Hybridctl.HnsNetwork' -Name 'NativeMethods' -PassThru

function Invoke-HnsRaw {
    param(
        [string]$Method,
        [string]$Path,
        [string]$Request
    )
    $response = ''
    $api::HNSCall($Method, $Path, $Request, [ref]$response)
    return $response | ConvertFrom-Json
}

function Invoke-Hns {
    param(
        [string]$Method,
        [string]$Path,
        [string]$Request
    )
    $reply = Invoke-HnsRaw -Method $Method -Path $Path -Request $Request
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

function Get-NetworkEndpoint {
    param(
        [string]$NetworkId
    )
    $found = @()
    foreach ($item in @(Invoke-Hns -Method 'GET' -Path '/endpoints' -Request '')) {
        if (($null -ne $item) -and ($item.VirtualNetwork -eq $NetworkId)) {
            $found += $item
        }
    }
    return ,$found
}

function Test-NetworkMatch {
    param(
        $Network,
        $Definition
    )
    # -eq is case-insensitive: 'l2bridge' is 'L2Bridge' (kube-proxy compares with strings.EqualFold).
    if ($Network.Type -ne $Definition.Type) {
        return $false
    }
    foreach ($subnet in @($Network.Subnets)) {
        if (($subnet.AddressPrefix -eq $Definition.AddressPrefix) -and ($subnet.GatewayAddress -eq $Definition.Gateway)) {
            return $true
        }
    }
    return $false
}

function Remove-StaleNetwork {
    param(
        $Network,
        $Definition
    )
    $endpoints = Get-NetworkEndpoint -NetworkId $Network.ID
    $pods = @($endpoints | Where-Object { $_.Name -ne $Definition.HostEndpoint.Name })
    if ($pods.Count -gt 0) {
        throw ('HNS network ' + $Network.Name + ' differs from hns-network.json but ' + $pods.Count + ' pod endpoints are attached; drain the node, then run again')
    }
    foreach ($endpoint in $endpoints) {
        Invoke-Hns -Method 'DELETE' -Path ('/endpoints/' + $endpoint.ID) -Request '' | Out-Null
    }
    Invoke-Hns -Method 'DELETE' -Path ('/networks/' + $Network.ID) -Request '' | Out-Null
}

function New-BridgeNetwork {
    param(
        $Definition
    )
    # A host endpoint left from a network that is gone blocks creating it again (flannel-io/flannel#1391).
    $stale = Get-HnsObject -Kind 'endpoints' -Name $Definition.HostEndpoint.Name
    if ($null -ne $stale) {
        Invoke-Hns -Method 'DELETE' -Path ('/endpoints/' + $stale.ID) -Request '' | Out-Null
    }
    $subnet = @{
        AddressPrefix = $Definition.AddressPrefix
        GatewayAddress = $Definition.Gateway
    }
    $request = @{
        Name = $Definition.Name
        Type = $Definition.Type
        NetworkAdapterName = $Definition.AdapterName
        Subnets = @($subnet)
    }
    return Invoke-Hns -Method 'POST' -Path '/networks' -Request (ConvertTo-Json $request -Depth 5)
}

function Get-InterfaceByAddress {
    param(
        [string]$Address
    )
    # .NET names each interface by its alias ('Ethernet0', 'vEthernet (cbr0_ep)'), as Get-NetIPAddress does.
    foreach ($nic in [System.Net.NetworkInformation.NetworkInterface]::GetAllNetworkInterfaces()) {
        foreach ($unicast in $nic.GetIPProperties().UnicastAddresses) {
            if ($unicast.Address.ToString() -eq $Address) {
                return $nic.Name
            }
        }
    }
    return $null
}

function Wait-ManagementAddress {
    param(
        $Network,
        [int]$Seconds
    )
    $deadline = (Get-Date).AddSeconds($Seconds)
    while ($true) {
        $current = Invoke-Hns -Method 'GET' -Path ('/networks/' + $Network.ID) -Request ''
        if ($current.ManagementIP) {
            if ($null -ne (Get-InterfaceByAddress -Address $current.ManagementIP)) {
                return $current
            }
        }
        if ((Get-Date) -gt $deadline) {
            throw ('HNS network ' + $Network.Name + ': no interface holds its management IP after ' + $Seconds + ' seconds')
        }
        Start-Sleep -Milliseconds 500
    }
}

function New-HostEndpoint {
    param(
        $Network,
        $Definition
    )
    $request = @{
        Name = $Definition.HostEndpoint.Name
        VirtualNetwork = $Network.ID
        IPAddress = $Definition.HostEndpoint.IPAddress
        GatewayAddress = '0.0.0.0'
    }
    return Invoke-Hns -Method 'POST' -Path '/endpoints' -Request (ConvertTo-Json $request)
}

function Connect-HostEndpoint {
    param(
        $Endpoint
    )
    $attach = @{
        SystemType = 'Host'
        CompartmentId = 1
    }
    $reply = Invoke-HnsRaw -Method 'POST' -Path ('/endpoints/' + $Endpoint.ID + '/attach') -Request (ConvertTo-Json $attach)
    if ($reply.Error -and ([string]$reply.Error -notlike '*already attached*')) {
        throw ('HNS attach of ' + $Endpoint.Name + ' failed: ' + $reply.Error)
    }
}

function Test-Interface {
    param(
        [string]$Alias
    )
    foreach ($nic in [System.Net.NetworkInformation.NetworkInterface]::GetAllNetworkInterfaces()) {
        if ($nic.Name -eq $Alias) {
            return $true
        }
    }
    return $false
}

$definition = Get-Content -LiteralPath $DefinitionPath -Raw | ConvertFrom-Json
$networkCreated = $false
$endpointCreated = $false
$network = Get-HnsObject -Kind 'networks' -Name $definition.Name
if (($null -ne $network) -and -not (Test-NetworkMatch -Network $network -Definition $definition)) {
    Remove-StaleNetwork -Network $network -Definition $definition
    $network = $null
}
if ($null -eq $network) {
    $network = New-BridgeNetwork -Definition $definition
    $networkCreated = $true
}
$network = Wait-ManagementAddress -Network $network -Seconds $TimeoutSeconds

$endpoint = Get-HnsObject -Kind 'endpoints' -Name $definition.HostEndpoint.Name
if (($null -ne $endpoint) -and (($endpoint.IPAddress -ne $definition.HostEndpoint.IPAddress) -or ($endpoint.VirtualNetwork -ne $network.ID))) {
    Invoke-Hns -Method 'DELETE' -Path ('/endpoints/' + $endpoint.ID) -Request '' | Out-Null
    $endpoint = $null
}
if ($null -eq $endpoint) {
    $endpoint = New-HostEndpoint -Network $network -Definition $definition
    $endpointCreated = $true
}
Connect-HostEndpoint -Endpoint $endpoint
$bridgeAlias = 'vEthernet (' + $definition.HostEndpoint.Name + ')'
if (-not (Test-Interface -Alias $bridgeAlias)) {
    Invoke-Hns -Method 'DELETE' -Path ('/endpoints/' + $endpoint.ID) -Request '' | Out-Null
    $endpoint = New-HostEndpoint -Network $network -Definition $definition
    $endpointCreated = $true
    Connect-HostEndpoint -Endpoint $endpoint
}
if (-not (Test-Interface -Alias $bridgeAlias)) {
    throw ('host endpoint ' + $definition.HostEndpoint.Name + ' is attached but ' + $bridgeAlias + ' did not appear')
}
Set-NetIPInterface -InterfaceAlias $bridgeAlias -AddressFamily IPv4 -Forwarding Enabled
Set-NetIPInterface -InterfaceAlias $InterfaceAlias -AddressFamily IPv4 -Forwarding Enabled
@{ networkCreated = $networkCreated; endpointCreated = $endpointCreated } | ConvertTo-Json -Compress
}

function Restore-BridgeNetwork {
    $result = & $RestoreBridgeNetwork -DefinitionPath 'C:\k\hybridctl\hns-network.json' -InterfaceAlias $InterfaceAlias
    Write-BootLog ('pod network restored: ' + $result)
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
