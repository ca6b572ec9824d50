# Rendered by hybridctl for "win1": routes to every other node's pod CIDR (routes mode).
# New-NetRoute saves each route in the active and the persistent store, so routes survive a reboot; the
# boot script runs this file again after it has restored the pod network. Idempotent: a missing route is
# added; a route on this adapter with hybridctl's metric that is not wanted (a node left, a CIDR or an
# address changed) is removed from both stores.
$ErrorActionPreference = 'Stop'

$InterfaceAlias = 'vEthernet (Ethernet)'
$Metric = 300
$Wanted = @(
    '10.244.0.0/24|192.168.10.10'
    '10.244.1.0/24|192.168.10.11'
    '10.244.3.0/24|192.168.10.22'
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

# node "cp1"
$present = Get-NetRoute -DestinationPrefix '10.244.0.0/24' -InterfaceAlias $InterfaceAlias -NextHop '192.168.10.10' -ErrorAction SilentlyContinue
if ($null -eq $present) {
    New-NetRoute -DestinationPrefix '10.244.0.0/24' -InterfaceAlias 'vEthernet (Ethernet)' -NextHop '192.168.10.10' -RouteMetric 300 | Out-Null
    Write-Output ('added route ' + '10.244.0.0/24')
}

# node "lin1"
$present = Get-NetRoute -DestinationPrefix '10.244.1.0/24' -InterfaceAlias $InterfaceAlias -NextHop '192.168.10.11' -ErrorAction SilentlyContinue
if ($null -eq $present) {
    New-NetRoute -DestinationPrefix '10.244.1.0/24' -InterfaceAlias 'vEthernet (Ethernet)' -NextHop '192.168.10.11' -RouteMetric 300 | Out-Null
    Write-Output ('added route ' + '10.244.1.0/24')
}

# node "win2"
$present = Get-NetRoute -DestinationPrefix '10.244.3.0/24' -InterfaceAlias $InterfaceAlias -NextHop '192.168.10.22' -ErrorAction SilentlyContinue
if ($null -eq $present) {
    New-NetRoute -DestinationPrefix '10.244.3.0/24' -InterfaceAlias 'vEthernet (Ethernet)' -NextHop '192.168.10.22' -RouteMetric 300 | Out-Null
    Write-Output ('added route ' + '10.244.3.0/24')
}
