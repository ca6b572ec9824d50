# hybridctl-script: win/service-control
# Starts, stops or restarts a service. 'restart' only restarts a running service (a stopped or missing
# one is left alone: whoever starts it later reads the new configuration); only 'start' needs it to exist.
# Returns {"status": ...}.
param(
    [Parameter(Mandatory = $true)]
    [string]$Name,
    [Parameter(Mandatory = $true)]
    [ValidateSet('start', 'stop', 'restart')]
    [string]$Action
)
$ErrorActionPreference = 'Stop'

$service = Get-Service -Name $Name -ErrorAction SilentlyContinue
if ($null -eq $service) {
    if ($Action -ne 'start') {
        @{ status = 'Missing' } | ConvertTo-Json -Compress
        return
    }
    throw ('service {0} is not installed' -f $Name)
}
if ($Action -eq 'start') {
    if ($service.Status -ne 'Running') {
        Start-Service -Name $Name
    }
}
elseif ($Action -eq 'stop') {
    if ($service.Status -ne 'Stopped') {
        Stop-Service -Name $Name -Force
    }
}
elseif ($service.Status -eq 'Running') {
    # Restart-Service -Force stops the running services that depend on this one and does not start them
    # again (a restart is a stop plus a start: winsw/winsw#400); start them again here.
    $dependents = @($service.DependentServices | Where-Object { $_.Status -eq 'Running' } | ForEach-Object { $_.Name })
    Restart-Service -Name $Name -Force
    foreach ($dependent in $dependents) {
        Start-Service -Name $dependent
    }
}
@{ status = [string](Get-Service -Name $Name).Status } | ConvertTo-Json -Compress
