# hybridctl-script: test/args
# Test only: returns the parameters it was given, as JSON, to prove values arrive unchanged.
param(
    [AllowEmptyString()]
    [string]$Text,
    [long]$Number,
    [bool]$Flag,
    [object[]]$Items,
    [hashtable]$Table
)
$PSBoundParameters | ConvertTo-Json -Compress -Depth 5
