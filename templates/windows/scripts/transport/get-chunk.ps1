# hybridctl-script: transport/get-chunk
# Returns one slice of a file as base64, with the file's total size, as one JSON object.
param(
    [Parameter(Mandatory = $true)]
    [string]$Path,
    [Parameter(Mandatory = $true)]
    [long]$Offset,
    [Parameter(Mandatory = $true)]
    [int]$Length
)
$ErrorActionPreference = 'Stop'

if (-not (Test-Path -LiteralPath $Path -PathType Leaf)) {
    @{ exists = $false } | ConvertTo-Json -Compress
    return
}

$stream = [System.IO.File]::Open($Path, [System.IO.FileMode]::Open, [System.IO.FileAccess]::Read, [System.IO.FileShare]::ReadWrite)
try {
    $size = $stream.Length
    [void]$stream.Seek($Offset, [System.IO.SeekOrigin]::Begin)
    $buffer = New-Object -TypeName byte[] -ArgumentList $Length
    $read = 0
    while ($read -lt $Length) {
        $count = $stream.Read($buffer, $read, $Length - $read)
        if ($count -eq 0) {
            break
        }
        $read += $count
    }
}
finally {
    $stream.Dispose()
}
$data = [System.Convert]::ToBase64String($buffer, 0, $read)
@{ exists = $true; size = $size; data = $data } | ConvertTo-Json -Compress
