# hybridctl-script: win/boot-task
# Registers (or replaces) the scheduled task that runs hybridctl's boot script at startup as SYSTEM.
# Returns {"task": ...}.
param(
    [Parameter(Mandatory = $true)]
    [string]$TaskName,
    [Parameter(Mandatory = $true)]
    [string]$Execute,
    [Parameter(Mandatory = $true)]
    [string]$Arguments
)
$ErrorActionPreference = 'Stop'

$action = New-ScheduledTaskAction -Execute $Execute -Argument $Arguments
$trigger = New-ScheduledTaskTrigger -AtStartup
$principal = New-ScheduledTaskPrincipal -UserId 'SYSTEM' -LogonType ServiceAccount -RunLevel Highest
$settings = New-ScheduledTaskSettingsSet -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries -ExecutionTimeLimit (New-TimeSpan -Minutes 30)
Register-ScheduledTask -TaskName $TaskName -Action $action -Trigger $trigger -Principal $principal -Settings $settings -Force | Out-Null
@{ task = $TaskName } | ConvertTo-Json -Compress
