# hybridctl-script: test/warn
# Test only: writes a warning, then Text to the output stream.
param(
    [string]$Text
)
Write-Warning -Message ('about to echo {0}' -f $Text)
Write-Output $Text
