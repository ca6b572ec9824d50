# hybridctl-script: win/diagnostics
# Read-only: one part of `hybridctl support-bundle` from a Windows node, as one JSON object.
#   logs:    the last lines of each log file asked for; recent entries of each event log asked for;
#            containerd's entries in the Application log (a registered containerd service logs there)
#   network: HNS networks, endpoints and policy lists as HNS returns them (HNSCall, as microsoft/SDN's
#            hns.psm1 does), every IPv4 route, the firewall rules whose name starts with the prefix
#   config:  every service, and the text of the files asked for and of the files in the directories
param(
    [Parameter(Mandatory = $true)]
    [ValidateSet('logs', 'network', 'config')]
    [string]$Part,
    [string[]]$LogFiles = @(),
    [string[]]$EventLogs = @(),
    [int]$MaxEvents = 200,
    [int]$TailLines = 2000,
    [string]$FirewallPrefix = '',
    [string[]]$Files = @(),
    [string[]]$Directories = @()
)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

function Get-Tail {
    param(
        [string]$Path
    )
    if (-not (Test-Path -LiteralPath $Path -PathType Leaf)) {
        return $null
    }
    return (@(Get-Content -LiteralPath $Path -Tail $TailLines) -join "`n")
}

function ConvertTo-EventRecord {
    param(
        $Entry
    )
    return @{
        time = $Entry.TimeCreated.ToUniversalTime().ToString('o')
        id = [int]$Entry.Id
        level = [string]$Entry.LevelDisplayName
        provider = [string]$Entry.ProviderName
        message = [string]$Entry.Message
    }
}

function Get-EventRecords {
    param(
        [hashtable]$Filter
    )
    try {
        $entries = @(Get-WinEvent -FilterHashtable $Filter -MaxEvents $MaxEvents -ErrorAction Stop)
    }
    catch {
        return @{ error = $_.Exception.Message }
    }
    return @{ entries = @($entries | ForEach-Object { ConvertTo-EventRecord -Entry $_ }) }
}

function Get-HnsObjects {
    param(
        [string]$Kind
    )
    $signature = @'
[DllImport("vmcompute.dll")]
public static extern void HNSCall([MarshalAs(UnmanagedType.LPWStr)] string method, [MarshalAs(UnmanagedType.LPWStr)] string path, [MarshalAs(UnmanagedType.LPWStr)] string request, [MarshalAs(UnmanagedType.LPWStr)] out string response);
'@
    $api = Add-Type -MemberDefinition $signature -Namespace 'Hybridctl.HnsDiagnostics' -Name 'NativeMethods' -PassThru
    $response = ''
    $api::HNSCall('GET', '/' + $Kind, '', [ref]$response)
    $reply = $response | ConvertFrom-Json
    if ($reply.Error) {
        return @{ error = [string]$reply.Error }
    }
    return @{ items = @($reply.Output) }
}

function Get-FileTexts {
    $found = @{}
    foreach ($path in $Files) {
        $found[$path] = Get-Tail -Path $path
    }
    foreach ($directory in $Directories) {
        foreach ($item in @(Get-ChildItem -LiteralPath $directory -File -ErrorAction SilentlyContinue)) {
            if ($null -ne $item) {
                $found[$item.FullName] = Get-Tail -Path $item.FullName
            }
        }
    }
    return $found
}

$reply = @{ part = $Part }
if ($Part -eq 'logs') {
    $files = @{}
    foreach ($path in $LogFiles) {
        $files[$path] = Get-Tail -Path $path
    }
    $events = @{}
    foreach ($name in $EventLogs) {
        $events[$name] = Get-EventRecords -Filter @{ LogName = $name }
    }
    $reply.files = $files
    $reply.events = $events
    $reply.containerdEvents = Get-EventRecords -Filter @{ LogName = 'Application'; ProviderName = 'containerd' }
}
if ($Part -eq 'network') {
    $reply.hnsNetworks = Get-HnsObjects -Kind 'networks'
    $reply.hnsEndpoints = Get-HnsObjects -Kind 'endpoints'
    $reply.hnsPolicies = Get-HnsObjects -Kind 'policylists'
    $routes = @(Get-NetRoute -AddressFamily IPv4 -ErrorAction SilentlyContinue | ForEach-Object {
        @{
            destinationPrefix = [string]$_.DestinationPrefix
            nextHop = [string]$_.NextHop
            interfaceAlias = [string]$_.InterfaceAlias
            routeMetric = [int]$_.RouteMetric
            store = [string]$_.Store
        }
    })
    $reply.routes = $routes
    $rules = @()
    foreach ($rule in @(Get-NetFirewallRule -Name ($FirewallPrefix + '*') -ErrorAction SilentlyContinue)) {
        if ($null -ne $rule) {
            $filter = Get-NetFirewallPortFilter -AssociatedNetFirewallRule $rule
            $rules += @{
                name = [string]$rule.Name
                direction = [string]$rule.Direction
                action = [string]$rule.Action
                enabled = [string]$rule.Enabled
                protocol = [string]$filter.Protocol
                localPort = [string]$filter.LocalPort
            }
        }
    }
    $reply.firewallRules = $rules
}
if ($Part -eq 'config') {
    $reply.services = @(Get-CimInstance -ClassName Win32_Service | ForEach-Object {
        @{
            name = [string]$_.Name
            state = [string]$_.State
            startMode = [string]$_.StartMode
            pathName = [string]$_.PathName
        }
    })
    $reply.files = Get-FileTexts
}
$reply | ConvertTo-Json -Compress -Depth 10
