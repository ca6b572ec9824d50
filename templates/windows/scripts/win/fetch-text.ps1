# hybridctl-script: win/fetch-text
# Read-only: the node fetches a small text (a published checksum file) from Url, so what it later
# downloads is checked against what the node itself sees at the source. Returns {"text": ...}.
param(
    [Parameter(Mandatory = $true)]
    [string]$Url,
    [int]$MaxBytes = 65536
)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

[System.Net.ServicePointManager]::SecurityProtocol = [System.Net.ServicePointManager]::SecurityProtocol -bor [System.Net.SecurityProtocolType]::Tls12
$response = Invoke-WebRequest -Uri $Url -UseBasicParsing -TimeoutSec 60
$text = [string]$response.Content
if ($text.Length -gt $MaxBytes) {
    throw ('{0} is larger than {1} bytes; not a checksum file' -f $Url, $MaxBytes)
}
@{ text = $text } | ConvertTo-Json -Compress
