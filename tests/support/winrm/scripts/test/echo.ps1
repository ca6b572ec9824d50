# hybridctl-script: test/echo
# Test only: writes Text to the output stream unchanged.
param(
    [AllowEmptyString()]
    [string]$Text
)
Write-Output $Text
