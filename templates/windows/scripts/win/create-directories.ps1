# hybridctl-script: win/create-directories
# Creates missing directories (with their parents). Returns {"created": [...]}.
param(
    [Parameter(Mandatory = $true)]
    [string[]]$Paths
)
$ErrorActionPreference = 'Stop'

$created = @()
foreach ($path in $Paths) {
    if (-not (Test-Path -LiteralPath $path -PathType Container)) {
        New-Item -ItemType Directory -Path $path -Force | Out-Null
        $created += $path
    }
}
@{ created = $created } | ConvertTo-Json -Compress
