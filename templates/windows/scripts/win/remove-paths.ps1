# hybridctl-script: win/remove-paths
# Deletes files or directory trees; a path that does not exist is not an error. Returns {"removed": [...]}
# with the paths that existed.
param(
    [Parameter(Mandatory = $true)]
    [string[]]$Paths
)
$ErrorActionPreference = 'Stop'

$removed = @()
foreach ($path in $Paths) {
    if (Test-Path -LiteralPath $path) {
        Remove-Item -LiteralPath $path -Recurse -Force
        $removed += $path
    }
}
@{ removed = $removed } | ConvertTo-Json -Compress
