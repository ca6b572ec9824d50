# hybridctl-script: win/run-file
# Runs a script file hybridctl rendered and installed on the node (firewall.ps1, routes.ps1). The file's
# values are literals rendered with ps_quote; this constant script only starts it. Returns {"output": [...]}.
param(
    [Parameter(Mandatory = $true)]
    [string]$Path
)
$ErrorActionPreference = 'Stop'

if (-not (Test-Path -LiteralPath $Path -PathType Leaf)) {
    throw ('{0} is not installed' -f $Path)
}
$lines = @(& $Path | ForEach-Object { [string]$_ })
@{ output = $lines } | ConvertTo-Json -Compress
