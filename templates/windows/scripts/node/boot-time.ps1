# hybridctl-script: node/boot-time
# The time Windows last booted, in UTC, ISO 8601 with milliseconds.
param()
$ErrorActionPreference = 'Stop'

$os = Get-CimInstance -ClassName Win32_OperatingSystem
$culture = [System.Globalization.CultureInfo]::InvariantCulture
$os.LastBootUpTime.ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ss.fffZ', $culture)
