# hybridctl-script: test/echo-stderr
# Test only: writes Text to the error stream as a non-terminating error; the pipeline still completes.
param(
    [string]$Text
)
Write-Error -Message $Text
