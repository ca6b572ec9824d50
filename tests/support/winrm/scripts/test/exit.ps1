# hybridctl-script: test/exit
# Test only: succeeds for Code 0, otherwise ends with a terminating error (the pipeline fails).
param(
    [int]$Code
)
if ($Code -ne 0) {
    throw ('exit code {0}' -f $Code)
}
