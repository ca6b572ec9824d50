# hybridctl-script: transport/put-commit
# Verifies the SHA-256 of a finished upload and moves it into place; a mismatch removes the temporary
# file and fails, leaving any existing file at Path untouched.
param(
    [Parameter(Mandatory = $true)]
    [string]$TempPath,
    [Parameter(Mandatory = $true)]
    [string]$Path,
    [Parameter(Mandatory = $true)]
    [string]$Sha256
)
$ErrorActionPreference = 'Stop'

$expected = $Sha256.ToLowerInvariant()
$actual = (Get-FileHash -LiteralPath $TempPath -Algorithm SHA256).Hash.ToLowerInvariant()
if ($actual -ne $expected) {
    Remove-Item -LiteralPath $TempPath -Force
    throw ('sha256 mismatch for upload of {0}: expected {1}, got {2}' -f $Path, $expected, $actual)
}

Move-Item -LiteralPath $TempPath -Destination $Path -Force
$size = (Get-Item -LiteralPath $Path).Length
@{ path = $Path; size = $size; sha256 = $actual } | ConvertTo-Json -Compress
