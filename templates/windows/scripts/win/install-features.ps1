# hybridctl-script: win/install-features
# Installs Windows features that are not installed yet. Returns {"installed": [...], "restartNeeded": bool};
# hybridctl restarts the host itself (Install-WindowsFeature -Restart would cut this answer off).
param(
    [Parameter(Mandatory = $true)]
    [string[]]$Names
)
$ErrorActionPreference = 'Stop'

$installed = @()
$restart = $false
foreach ($name in $Names) {
    $feature = Get-WindowsFeature -Name $name
    if ([string]$feature.InstallState -eq 'InstallPending') {
        $restart = $true
        continue
    }
    if ($feature.Installed) {
        continue
    }
    $result = Install-WindowsFeature -Name $name
    if (-not $result.Success) {
        throw ('installing the Windows feature {0} failed: {1}' -f $name, [string]$result.ExitCode)
    }
    $installed += $name
    if ([string]$result.RestartNeeded -ne 'No') {
        $restart = $true
    }
}
@{ installed = $installed; restartNeeded = $restart } | ConvertTo-Json -Compress
