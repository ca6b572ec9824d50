# hybridctl-script: node/download
# Downloads Url to Path on the node itself and verifies its SHA-256. Idempotent: when Path already has
# that hash nothing is downloaded. The download lands in a temporary file first, so a failed or corrupt
# transfer never replaces a good file.
param(
    [Parameter(Mandatory = $true)]
    [string]$Url,
    [Parameter(Mandatory = $true)]
    [string]$Sha256,
    [Parameter(Mandatory = $true)]
    [string]$Path
)
$ErrorActionPreference = 'Stop'
# The progress bar slows Invoke-WebRequest down by an order of magnitude in Windows PowerShell 5.1.
$ProgressPreference = 'SilentlyContinue'

$expected = $Sha256.ToLowerInvariant()
if (Test-Path -LiteralPath $Path -PathType Leaf) {
    $current = (Get-FileHash -LiteralPath $Path -Algorithm SHA256).Hash.ToLowerInvariant()
    if ($current -eq $expected) {
        @{ changed = $false; path = $Path; sha256 = $current } | ConvertTo-Json -Compress
        return
    }
}

[System.Net.ServicePointManager]::SecurityProtocol = [System.Net.ServicePointManager]::SecurityProtocol -bor [System.Net.SecurityProtocolType]::Tls12
$directory = [System.IO.Path]::GetDirectoryName($Path)
if ($directory -and -not (Test-Path -LiteralPath $directory -PathType Container)) {
    New-Item -ItemType Directory -Path $directory -Force | Out-Null
}

$temp = '{0}.hybridctl-{1}.part' -f $Path, [guid]::NewGuid().ToString('N')
try {
    Invoke-WebRequest -Uri $Url -OutFile $temp -UseBasicParsing
    $actual = (Get-FileHash -LiteralPath $temp -Algorithm SHA256).Hash.ToLowerInvariant()
    if ($actual -ne $expected) {
        throw ('sha256 mismatch for {0}: expected {1}, got {2}' -f $Url, $expected, $actual)
    }
    Move-Item -LiteralPath $temp -Destination $Path -Force
}
finally {
    if (Test-Path -LiteralPath $temp) {
        Remove-Item -LiteralPath $temp -Force
    }
}

@{ changed = $true; path = $Path; sha256 = $actual } | ConvertTo-Json -Compress
