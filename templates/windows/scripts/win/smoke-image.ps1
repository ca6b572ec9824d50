# hybridctl-script: win/smoke-image
# The smoke test image on this node (spec.smoke.prePull): whether containerd has it (crictl inspecti exits
# 0), whether the SYSTEM task that pulls it in the background runs, and how its last run ended. With
# -Start it (re)registers that task and starts it: the pull goes on after this command returns, through
# the CRI (so containerd's registry hosts apply), while up carries on with the node's other steps.
param(
    [Parameter(Mandatory = $true)]
    [string]$Ref,
    [Parameter(Mandatory = $true)]
    [string]$Crictl,
    [Parameter(Mandatory = $true)]
    [string]$RuntimeEndpoint,
    [switch]$Start
)
$ErrorActionPreference = 'Stop'
$taskName = 'hybridctl-smoke-pull'

if ($Start) {
    $arguments = '--runtime-endpoint {0} --image-endpoint {0} pull {1}' -f $RuntimeEndpoint, $Ref
    $action = New-ScheduledTaskAction -Execute $Crictl -Argument $arguments
    $principal = New-ScheduledTaskPrincipal -UserId 'SYSTEM' -LogonType ServiceAccount -RunLevel Highest
    $settings = New-ScheduledTaskSettingsSet -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries
    Register-ScheduledTask -TaskName $taskName -Action $action -Principal $principal -Settings $settings -Force | Out-Null
    Start-ScheduledTask -TaskName $taskName
}

$pulling = $false
$lastResult = $null
$task = Get-ScheduledTask -TaskName $taskName -ErrorAction SilentlyContinue
if ($null -ne $task) {
    $pulling = ([string]$task.State -eq 'Running')
    $lastResult = [long](Get-ScheduledTaskInfo -InputObject $task).LastTaskResult
}

# crictl's log lines go to stderr: merged into the output with 'Continue' (see win/reset); the exit code
# decides.
$present = $false
if (Test-Path -LiteralPath $Crictl) {
    $ErrorActionPreference = 'Continue'
    & $Crictl --runtime-endpoint $RuntimeEndpoint --image-endpoint $RuntimeEndpoint inspecti $Ref 2>&1 | Out-Null
    $present = ($LASTEXITCODE -eq 0)
    $ErrorActionPreference = 'Stop'
}

@{ present = $present; pulling = $pulling; lastResult = $lastResult } | ConvertTo-Json -Compress
