# hybridctl-script: win/remove-features
# Uninstalls Windows features that are installed. Returns {"removed": [...], "restartNeeded": bool}.
param(
    [Parameter(Mandatory = $true)]
    [string[]]$Names
)
$ErrorActionPreference = 'Stop'

$removed = @()
$restart = $false
foreach ($name in $Names) {
    $feature = Get-WindowsFeature -Name $name
    if (-not $feature.Installed) {
        continue
    }
    $result = Uninstall-WindowsFeature -Name $name
    if (-not $result.Success) {
        throw ('removing the Windows feature {0} failed: {1}' -f $name, [string]$result.ExitCode)
    }
    $removed += $name
    if ([string]$result.RestartNeeded -ne 'No') {
        $restart = $true
    }
}
@{ removed = $removed; restartNeeded = $restart } | ConvertTo-Json -Compress
