# Rendered by hybridctl for "win2": routes to every other node's pod CIDR (routes mode).
# Each route lives in the active store (used now) and the persistent store (restored at boot); the boot
# script runs this file again after it has restored the pod network. Idempotent per store: a route missing
# from either store is added to that store; a route on this adapter with hybridctl's metric that is not
# wanted (a node left, a CIDR or an address changed) is removed from both stores.
$ErrorActionPreference = 'Stop'

$InterfaceAlias = 'vEthernet (Ethernet)'
$Metric = 300
$Wanted = @(
    '10.244.0.0/24|192.168.10.10'
    '10.244.1.0/24|192.168.10.11'
    '10.244.2.0/24|192.168.10.21'
)

function Remove-StalePodRoute {
    param(
        [string]$Store
    )
    $found = Get-NetRoute -InterfaceAlias $InterfaceAlias -AddressFamily IPv4 -PolicyStore $Store -ErrorAction SilentlyContinue
    foreach ($route in $found) {
        $key = [string]$route.DestinationPrefix + '|' + [string]$route.NextHop
        if (($route.RouteMetric -eq $Metric) -and ($Wanted -notcontains $key)) {
            Write-Output ('removing stale route ' + $key + ' from ' + $Store)
            $route | Remove-NetRoute -Confirm:$false
        }
    }
}

Remove-StalePodRoute -Store 'ActiveStore'
Remove-StalePodRoute -Store 'PersistentStore'
$Stores = @('ActiveStore', 'PersistentStore')

# node "cp1"
foreach ($Store in $Stores) {
    $present = Get-NetRoute -DestinationPrefix '10.244.0.0/24' -InterfaceAlias $InterfaceAlias -NextHop '192.168.10.10' -PolicyStore $Store -ErrorAction SilentlyContinue
    if ($null -eq $present) {
        New-NetRoute -DestinationPrefix '10.244.0.0/24' -InterfaceAlias 'vEthernet (Ethernet)' -NextHop '192.168.10.10' -RouteMetric 300 -PolicyStore $Store | Out-Null
        Write-Output ('added route ' + '10.244.0.0/24' + ' to ' + $Store)
    }
}

# node "lin1"
foreach ($Store in $Stores) {
    $present = Get-NetRoute -DestinationPrefix '10.244.1.0/24' -InterfaceAlias $InterfaceAlias -NextHop '192.168.10.11' -PolicyStore $Store -ErrorAction SilentlyContinue
    if ($null -eq $present) {
        New-NetRoute -DestinationPrefix '10.244.1.0/24' -InterfaceAlias 'vEthernet (Ethernet)' -NextHop '192.168.10.11' -RouteMetric 300 -PolicyStore $Store | Out-Null
        Write-Output ('added route ' + '10.244.1.0/24' + ' to ' + $Store)
    }
}

# node "win1"
foreach ($Store in $Stores) {
    $present = Get-NetRoute -DestinationPrefix '10.244.2.0/24' -InterfaceAlias $InterfaceAlias -NextHop '192.168.10.21' -PolicyStore $Store -ErrorAction SilentlyContinue
    if ($null -eq $present) {
        New-NetRoute -DestinationPrefix '10.244.2.0/24' -InterfaceAlias 'vEthernet (Ethernet)' -NextHop '192.168.10.21' -RouteMetric 300 -PolicyStore $Store | Out-Null
        Write-Output ('added route ' + '10.244.2.0/24' + ' to ' + $Store)
    }
}
