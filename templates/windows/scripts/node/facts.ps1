# hybridctl-script: node/facts
# Read-only: what `hybridctl ping` and preflight report about a Windows host, as one JSON object.
param()
$ErrorActionPreference = 'Stop'

$os = Get-CimInstance -ClassName Win32_OperatingSystem
$identity = [System.Security.Principal.WindowsIdentity]::GetCurrent()
$principal = New-Object -TypeName System.Security.Principal.WindowsPrincipal -ArgumentList $identity
$admin = $principal.IsInRole([System.Security.Principal.WindowsBuiltInRole]::Administrator)
$culture = [System.Globalization.CultureInfo]::InvariantCulture

$facts = @{
    hostname = [System.Net.Dns]::GetHostName()
    build = [string]$os.Version
    caption = [string]$os.Caption
    arch = [string]$env:PROCESSOR_ARCHITECTURE
    utcNow = [DateTime]::UtcNow.ToString('yyyy-MM-ddTHH:mm:ss.fffZ', $culture)
    isAdmin = [bool]$admin
    psVersion = [string]$PSVersionTable.PSVersion
}
$facts | ConvertTo-Json -Compress
