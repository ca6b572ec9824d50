# hybridctl-script: win/install-artifact
# Installs files from a downloaded (and already sha256-verified) artifact: extracts an archive (.zip with
# Expand-Archive, .tar.gz/.tgz with the in-box tar.exe) or takes a single file, copies each wanted file
# (matched by the end of its path inside the archive) into Destination under the name Names gives it at
# the same position (flannel's CNI plugin ships as flannel-amd64.exe, the CNI config runs flannel.exe),
# optionally adds Destination to the machine PATH, and records what it installed in RecordPath so a later
# check needs no download.
# Returns {"files": {path: sha256}}.
param(
    [Parameter(Mandatory = $true)]
    [string]$Name,
    [Parameter(Mandatory = $true)]
    [string]$Source,
    [Parameter(Mandatory = $true)]
    [string]$Url,
    [Parameter(Mandatory = $true)]
    [string]$Sha256,
    [Parameter(Mandatory = $true)]
    [string]$Destination,
    [Parameter(Mandatory = $true)]
    [string[]]$Files,
    [Parameter(Mandatory = $true)]
    [string[]]$Names,
    [Parameter(Mandatory = $true)]
    [string]$RecordPath,
    [string]$PathEntry = ''
)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

function Find-Member {
    param(
        [string]$Root,
        [string]$Suffix
    )
    $wanted = '\' + $Suffix.Replace('/', '\')
    foreach ($item in Get-ChildItem -LiteralPath $Root -Recurse -File) {
        if ($item.FullName.EndsWith($wanted, [System.StringComparison]::OrdinalIgnoreCase)) {
            return $item.FullName
        }
    }
    throw ('{0} has no file {1}' -f $Source, $Suffix)
}

New-Item -ItemType Directory -Path $Destination -Force | Out-Null
$work = Join-Path ([System.IO.Path]::GetTempPath()) ('hybridctl-' + [guid]::NewGuid().ToString('N'))
New-Item -ItemType Directory -Path $work -Force | Out-Null
$installed = @{}
try {
    if ($Source.EndsWith('.zip', [System.StringComparison]::OrdinalIgnoreCase)) {
        Expand-Archive -LiteralPath $Source -DestinationPath $work -Force
    }
    elseif ($Source -match '\.(tgz|tar\.gz)$') {
        & tar.exe -xzf $Source -C $work
        if ($LASTEXITCODE -ne 0) {
            throw ('tar.exe could not extract {0} (exit {1})' -f $Source, $LASTEXITCODE)
        }
    }
    else {
        Copy-Item -LiteralPath $Source -Destination $work
    }
    if ($Names.Count -ne $Files.Count) {
        throw ('{0} files but {1} names' -f $Files.Count, $Names.Count)
    }
    $index = 0
    foreach ($suffix in $Files) {
        $found = Find-Member -Root $work -Suffix $suffix
        $target = Join-Path $Destination $Names[$index]
        $index++
        Copy-Item -LiteralPath $found -Destination $target -Force
        $installed[$target] = (Get-FileHash -LiteralPath $target -Algorithm SHA256).Hash.ToLowerInvariant()
    }
}
finally {
    Remove-Item -LiteralPath $work -Recurse -Force -ErrorAction SilentlyContinue
}

if ($PathEntry -ne '') {
    $machinePath = [Environment]::GetEnvironmentVariable('Path', 'Machine')
    $entries = @($machinePath -split ';' | Where-Object { $_ -ne '' })
    if ($entries -notcontains $PathEntry) {
        [Environment]::SetEnvironmentVariable('Path', (($entries + $PathEntry) -join ';'), 'Machine')
    }
}

$record = @{}
if (Test-Path -LiteralPath $RecordPath -PathType Leaf) {
    $old = Get-Content -LiteralPath $RecordPath -Raw | ConvertFrom-Json
    foreach ($property in $old.PSObject.Properties) {
        $record[$property.Name] = $property.Value
    }
}
$record[$Name] = @{ url = $Url; sha256 = $Sha256.ToLowerInvariant(); files = $installed }
New-Item -ItemType Directory -Path (Split-Path -Parent $RecordPath) -Force | Out-Null
$record | ConvertTo-Json -Depth 5 | Out-File -LiteralPath $RecordPath -Encoding ascii
@{ files = $installed } | ConvertTo-Json -Compress
