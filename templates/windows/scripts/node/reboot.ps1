# hybridctl-script: node/reboot
# Schedules a restart as SYSTEM. A WinRM session's filtered token may lack SeShutdownPrivilege, so a direct
# Restart-Computer can be ignored without an error; a scheduled task running as SYSTEM always has it.
# The delay lets this command's answer reach the client before the network goes down.
param(
    [ValidateRange(1, 600)]
    [int]$DelaySeconds = 5
)
$ErrorActionPreference = 'Stop'

$taskName = 'hybridctl-reboot'
$arguments = '/r /t {0} /d p:4:1 /c "hybridctl: restart to finish node setup"' -f $DelaySeconds
$action = New-ScheduledTaskAction -Execute 'shutdown.exe' -Argument $arguments
$principal = New-ScheduledTaskPrincipal -UserId 'SYSTEM' -LogonType ServiceAccount -RunLevel Highest
$settings = New-ScheduledTaskSettingsSet -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries
Register-ScheduledTask -TaskName $taskName -Action $action -Principal $principal -Settings $settings -Force | Out-Null
Start-ScheduledTask -TaskName $taskName

@{ scheduled = $true; task = $taskName; delaySeconds = $DelaySeconds } | ConvertTo-Json -Compress
