# hybridctl-script: node/download
# Downloads Url to Path on the node itself and verifies its SHA-256. Idempotent: when Path already has
# that hash nothing is downloaded. The download lands in a temporary file first, so a failed or corrupt
# transfer never replaces a good file. While it runs, and once at the end, it reports
# 'Write-Progress -Status "<bytes> of <total> bytes"' (total '?' when the server sends no Content-Length).
param(
    [Parameter(Mandatory = $true)]
    [string]$Url,
    [Parameter(Mandatory = $true)]
    [string]$Sha256,
    [Parameter(Mandatory = $true)]
    [string]$Path
)
$ErrorActionPreference = 'Stop'
# Progress records travel to hybridctl as PSRP PROGRESS_RECORD messages ([MS-PSRP] 2.2.2.25) and become its
# "download" events. Write-Progress writes them only when $ProgressPreference is Continue (about_Preference_
# Variables, Windows PowerShell 5.1: the default, set here so a changed default cannot silence them).
$ProgressPreference = 'Continue'
$ReportSeconds = 1

function Write-Bytes([long]$Done, [long]$Total) {
    # Write-Progress (learn.microsoft.com/powershell/module/microsoft.powershell.utility/write-progress,
    # 5.1): -Activity is the heading, -Status the line below it, -PercentComplete -1 when unknown.
    $of = if ($Total -ge 0) { [string]$Total } else { '?' }
    $percent = if ($Total -gt 0) { [int][Math]::Min(100, [Math]::Floor(100 * $Done / $Total)) } else { -1 }
    Write-Progress -Activity ('Downloading {0}' -f $Url) -Status ('{0} of {1} bytes' -f $Done, $of) -PercentComplete $percent
}

function Save-Url([string]$Source, [string]$Destination) {
    # A streamed copy instead of Invoke-WebRequest, whose own progress records come per buffer and slow
    # 5.1 down. HttpWebRequest follows redirects like Invoke-WebRequest; a non-2xx answer throws
    # WebException from GetResponse. HttpWebResponse.ContentLength is -1 without a Content-Length header
    # (learn.microsoft.com/dotnet/api/system.net.httpwebresponse.contentlength).
    $request = [System.Net.WebRequest]::Create($Source)
    $request.Timeout = 120000
    $request.ReadWriteTimeout = 120000
    $response = $request.GetResponse()
    try {
        $total = $response.ContentLength
        $stream = $response.GetResponseStream()
        $file = [System.IO.File]::Create($Destination)
        try {
            $buffer = New-Object -TypeName 'byte[]' -ArgumentList 1048576
            $done = [long]0
            $clock = [System.Diagnostics.Stopwatch]::StartNew()
            while (($read = $stream.Read($buffer, 0, $buffer.Length)) -gt 0) {
                $file.Write($buffer, 0, $read)
                $done += $read
                if ($clock.Elapsed.TotalSeconds -ge $ReportSeconds) {
                    Write-Bytes -Done $done -Total $total
                    $clock.Restart()
                }
            }
            Write-Bytes -Done $done -Total $total
        }
        finally {
            $file.Dispose()
            $stream.Dispose()
        }
    }
    finally {
        $response.Dispose()
    }
}

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
    Save-Url -Source $Url -Destination $temp
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
