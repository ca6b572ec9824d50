# hybridctl-script: win/status
# Read-only: what `hybridctl status` shows of a Windows node: OS caption and build, the state of the node's
# services and the version line each binary prints with --version. Returns one JSON object.
param(
    [string[]]$Services = @(),
    [string[]]$Binaries = @()
)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

function Get-VersionLine {
    param(
        [string]$Path
    )
    if (-not (Test-Path -LiteralPath $Path -PathType Leaf)) {
        return $null
    }
    try {
        $output = & $Path --version 2>&1 | Out-String
        return $output.Trim()
    } catch {
        return 'error: ' + $_.Exception.Message
    }
}

$os = Get-CimInstance -ClassName Win32_OperatingSystem
$services = @{}
foreach ($name in $Services) {
    $service = Get-Service -Name $name -ErrorAction SilentlyContinue
    if ($null -eq $service) {
        $services[$name] = $null
    } else {
        $services[$name] = [string]$service.Status
    }
}
$versions = @{}
foreach ($path in $Binaries) {
    $versions[$path] = Get-VersionLine -Path $path
}
$reply = @{
    caption = [string]$os.Caption
    build = [string]$os.Version
    services = $services
    versions = $versions
}
$reply | ConvertTo-Json -Compress -Depth 4
