# hybridctl-script: win/state
# Read-only: the live state a Windows step's check compares, in one round trip. Each parameter asks for
# one kind of state and nothing else is read, so a check costs one script whatever it looks at.
# Returns one JSON object with a member per kind asked for, plus machinePath (always).
param(
    [string[]]$Paths = @(),
    [string[]]$Directories = @(),
    [string[]]$Services = @(),
    [string[]]$Pipes = @(),
    [string[]]$Features = @(),
    [string]$FirewallPrefix = '',
    [string[]]$Tasks = @(),
    [string[]]$Networks = @(),
    [string]$RouteInterface = '',
    [string[]]$Interfaces = @(),
    [string[]]$Acls = @(),
    [string[]]$HealthUrls = @(),
    [string[]]$IpamStores = @(),
    [string]$RecordPath = ''
)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

function Get-FileSha256 {
    param(
        [string]$Path
    )
    if (Test-Path -LiteralPath $Path -PathType Leaf) {
        return (Get-FileHash -LiteralPath $Path -Algorithm SHA256).Hash.ToLowerInvariant()
    }
    return $null
}

function Get-NssmParameters {
    param(
        [string]$Key
    )
    $found = @{}
    if (-not (Test-Path -LiteralPath $Key)) {
        return $found
    }
    $item = Get-ItemProperty -LiteralPath $Key
    foreach ($property in $item.PSObject.Properties) {
        if ($property.Name -notlike 'PS*') {
            $found[$property.Name] = $property.Value
        }
    }
    $exitKey = $Key + '\AppExit'
    if (Test-Path -LiteralPath $exitKey) {
        $found['AppExit'] = [string](Get-ItemProperty -LiteralPath $exitKey).'(default)'
    }
    return $found
}

function Get-ServiceState {
    param(
        [string]$Name
    )
    $service = Get-Service -Name $Name -ErrorAction SilentlyContinue
    if ($null -eq $service) {
        return @{ exists = $false }
    }
    $key = 'HKLM:\SYSTEM\CurrentControlSet\Services\' + $Name
    $image = (Get-ItemProperty -LiteralPath $key -Name 'ImagePath' -ErrorAction SilentlyContinue).ImagePath
    $dependencies = @($service.ServicesDependedOn | ForEach-Object { $_.Name })
    return @{
        exists = $true
        status = [string]$service.Status
        startType = [string]$service.StartType
        displayName = [string]$service.DisplayName
        binaryPath = [string]$image
        dependOnService = $dependencies
        parameters = Get-NssmParameters -Key ($key + '\Parameters')
    }
}

function Get-RuleState {
    param(
        $Rule
    )
    $filter = Get-NetFirewallPortFilter -AssociatedNetFirewallRule $Rule
    return @{
        name = [string]$Rule.Name
        direction = [string]$Rule.Direction
        action = [string]$Rule.Action
        enabled = [string]$Rule.Enabled
        protocol = [string]$filter.Protocol
        localPort = [string]$filter.LocalPort
        remotePort = [string]$filter.RemotePort
    }
}

function Get-TaskState {
    param(
        [string]$Name
    )
    $task = Get-ScheduledTask -TaskName $Name -ErrorAction SilentlyContinue
    if ($null -eq $task) {
        return @{ exists = $false }
    }
    $action = @($task.Actions)[0]
    $trigger = @($task.Triggers)[0]
    return @{
        exists = $true
        execute = [string]$action.Execute
        arguments = [string]$action.Arguments
        userId = [string]$task.Principal.UserId
        trigger = [string]$trigger.CimClass.CimClassName
    }
}

function Get-HnsState {
    # HNS through HNSCall in vmcompute.dll, as microsoft/SDN's hns.psm1 does: no module needed.
    $signature = @'
[DllImport("vmcompute.dll")]
public static extern void HNSCall([MarshalAs(UnmanagedType.LPWStr)] string method, [MarshalAs(UnmanagedType.LPWStr)] string path, [MarshalAs(UnmanagedType.LPWStr)] string request, [MarshalAs(UnmanagedType.LPWStr)] out string response);
'@
    $api = Add-Type -MemberDefinition $signature -Namespace 'Hybridctl.HnsState' -Name 'NativeMethods' -PassThru
    $found = @{ networks = @{}; endpoints = @{} }
    foreach ($kind in @('networks', 'endpoints')) {
        $response = ''
        $api::HNSCall('GET', '/' + $kind, '', [ref]$response)
        $reply = $response | ConvertFrom-Json
        if ($reply.Error) {
            throw ('HNS GET /' + $kind + ' failed: ' + $reply.Error)
        }
        foreach ($item in @($reply.Output)) {
            if ($null -eq $item) {
                continue
            }
            if ($kind -eq 'networks') {
                $subnet = @($item.Subnets)[0]
                $found.networks[[string]$item.Name] = @{
                    id = [string]$item.ID
                    type = [string]$item.Type
                    adapter = [string]$item.NetworkAdapterName
                    addressPrefix = [string]$subnet.AddressPrefix
                    gateway = [string]$subnet.GatewayAddress
                }
            }
            else {
                $found.endpoints[[string]$item.Name] = @{
                    id = [string]$item.ID
                    network = [string]$item.VirtualNetworkName
                    ipAddress = [string]$item.IPAddress
                }
            }
        }
    }
    return $found
}

function Get-RouteState {
    param(
        [string]$Alias
    )
    $found = @()
    foreach ($store in @('ActiveStore', 'PersistentStore')) {
        $routes = Get-NetRoute -InterfaceAlias $Alias -AddressFamily IPv4 -PolicyStore $store -ErrorAction SilentlyContinue
        foreach ($route in @($routes)) {
            if ($null -eq $route) {
                continue
            }
            $found += @{
                destinationPrefix = [string]$route.DestinationPrefix
                nextHop = [string]$route.NextHop
                routeMetric = [int]$route.RouteMetric
                store = $store
            }
        }
    }
    return ,$found
}

function Get-IpamReservations {
    # host-local's disk store (containernetworking/plugins plugins/ipam/host-local/backend/disk): one file
    # per reserved address, named by the address, holding the container ID, a line break and the interface.
    param(
        [string]$Path
    )
    $found = @{}
    if (-not (Test-Path -LiteralPath $Path -PathType Container)) {
        return $found
    }
    foreach ($file in @(Get-ChildItem -LiteralPath $Path -File)) {
        $address = $null
        if (($null -ne $file) -and [System.Net.IPAddress]::TryParse($file.Name, [ref]$address)) {
            $found[$file.Name] = [string](@(Get-Content -LiteralPath $file.FullName))[0]
        }
    }
    return $found
}

function Get-HealthCode {
    param(
        [string]$Url
    )
    try {
        return [int](Invoke-WebRequest -Uri $Url -UseBasicParsing -TimeoutSec 5).StatusCode
    }
    catch {
        return $null
    }
}

$state = @{ machinePath = [Environment]::GetEnvironmentVariable('Path', 'Machine') }
if ($Paths.Count -gt 0) {
    $hashes = @{}
    foreach ($path in $Paths) {
        $hashes[$path] = Get-FileSha256 -Path $path
    }
    $state.files = $hashes
}
if ($Directories.Count -gt 0) {
    $present = @{}
    foreach ($path in $Directories) {
        $present[$path] = Test-Path -LiteralPath $path -PathType Container
    }
    $state.directories = $present
}
if ($Services.Count -gt 0) {
    $found = @{}
    foreach ($name in $Services) {
        $found[$name] = Get-ServiceState -Name $name
    }
    $state.services = $found
}
if ($Pipes.Count -gt 0) {
    $found = @{}
    foreach ($pipe in $Pipes) {
        $found[$pipe] = Test-Path -LiteralPath $pipe
    }
    $state.pipes = $found
}
if ($Features.Count -gt 0) {
    $found = @{}
    foreach ($name in $Features) {
        $feature = Get-WindowsFeature -Name $name
        $found[$name] = @{ installed = [bool]$feature.Installed; installState = [string]$feature.InstallState }
    }
    $state.features = $found
}
if ($FirewallPrefix -ne '') {
    $rules = @()
    foreach ($rule in @(Get-NetFirewallRule -Name ($FirewallPrefix + '*') -ErrorAction SilentlyContinue)) {
        if ($null -ne $rule) {
            $rules += Get-RuleState -Rule $rule
        }
    }
    $state.firewallRules = $rules
}
if ($Tasks.Count -gt 0) {
    $found = @{}
    foreach ($name in $Tasks) {
        $found[$name] = Get-TaskState -Name $name
    }
    $state.tasks = $found
}
if ($Networks.Count -gt 0) {
    $state.hns = Get-HnsState
}
if ($RouteInterface -ne '') {
    $state.routes = Get-RouteState -Alias $RouteInterface
}
if ($Interfaces.Count -gt 0) {
    # A host endpoint detached by a reboot is still listed by HNS; only its interface is gone
    # (flannel-io/flannel#1391, #1858).
    $found = @{}
    $names = @([System.Net.NetworkInformation.NetworkInterface]::GetAllNetworkInterfaces() | ForEach-Object { $_.Name })
    foreach ($alias in $Interfaces) {
        $found[$alias] = $names -contains $alias
    }
    $state.interfaces = $found
}
if ($Acls.Count -gt 0) {
    # Effective access rules (inherited ones included) by well-known SID, and whether inheritance is off.
    $found = @{}
    foreach ($path in $Acls) {
        if (-not (Test-Path -LiteralPath $path)) {
            $found[$path] = @{ exists = $false }
            continue
        }
        $acl = (Get-Item -LiteralPath $path -Force).GetAccessControl()
        $rules = @()
        foreach ($rule in $acl.GetAccessRules($true, $true, [System.Security.Principal.SecurityIdentifier])) {
            $sid = [string]$rule.IdentityReference.Value
            $rules += ($sid + ':' + [string]$rule.AccessControlType + ':' + [string]$rule.FileSystemRights)
        }
        $found[$path] = @{ exists = $true; protected = [bool]$acl.AreAccessRulesProtected; rules = $rules }
    }
    $state.acls = $found
}
if ($HealthUrls.Count -gt 0) {
    $found = @{}
    foreach ($url in $HealthUrls) {
        $found[$url] = Get-HealthCode -Url $url
    }
    $state.health = $found
}
if ($IpamStores.Count -gt 0) {
    $found = @{}
    foreach ($path in $IpamStores) {
        $found[$path] = Get-IpamReservations -Path $path
    }
    $state.ipamStores = $found
}
if ($RecordPath -ne '') {
    $record = $null
    if (Test-Path -LiteralPath $RecordPath -PathType Leaf) {
        $record = Get-Content -LiteralPath $RecordPath -Raw | ConvertFrom-Json
    }
    $state.record = $record
}
$state | ConvertTo-Json -Compress -Depth 8
