# hybridctl-script: test/sleep
# Test only: sleeps while a marker file exists, so a test can see whether the command still runs.
param(
    [double]$Seconds,
    [string]$Marker
)
$markerPath = Join-Path -Path $env:TEMP -ChildPath $Marker
New-Item -ItemType File -Path $markerPath -Force | Out-Null
try {
    Start-Sleep -Milliseconds ([int]($Seconds * 1000))
}
finally {
    Remove-Item -LiteralPath $markerPath -Force
}
