# hybridctl-script: transport/put-chunk
# Appends one base64 chunk of an upload to its temporary file. Offset must equal the file's current
# length, so a lost or repeated chunk fails here instead of producing a wrong file.
param(
    [Parameter(Mandatory = $true)]
    [string]$Path,
    [Parameter(Mandatory = $true)]
    [long]$Offset,
    [Parameter(Mandatory = $true)]
    [AllowEmptyString()]
    [string]$Data
)
$ErrorActionPreference = 'Stop'

$bytes = [System.Convert]::FromBase64String($Data)
if ($Offset -eq 0) {
    $directory = [System.IO.Path]::GetDirectoryName($Path)
    if ($directory -and -not (Test-Path -LiteralPath $directory -PathType Container)) {
        New-Item -ItemType Directory -Path $directory -Force | Out-Null
    }
    $mode = [System.IO.FileMode]::Create
}
else {
    $mode = [System.IO.FileMode]::Open
}

$stream = [System.IO.File]::Open($Path, $mode, [System.IO.FileAccess]::Write, [System.IO.FileShare]::None)
try {
    if ($stream.Length -ne $Offset) {
        throw ('upload chunk out of order: {0} holds {1} bytes, expected {2}' -f $Path, $stream.Length, $Offset)
    }
    [void]$stream.Seek(0, [System.IO.SeekOrigin]::End)
    $stream.Write($bytes, 0, $bytes.Length)
}
finally {
    $stream.Dispose()
}
