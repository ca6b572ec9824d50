# hybridctl-script: win/source-vip
# Reserves kube-proxy's source VIP in the node's pod CIDR through the host-local IPAM plugin, in the same
# store the CNI plugin allocates pod addresses from, so no pod ever gets it (reference section 5.2;
# jsturtevant in kubernetes/kubernetes#100962; microsoft/SDN helper.psm1 GetSourceVip; RKE2
# reserveFlannelVIP). The request (network name = the CNI network name, the node's pod CIDR, the data
# directory) comes from hybridctl as JSON. host-local refuses a second ADD for the same container ID, so
# hybridctl reads the store first and runs this only when no reservation exists.
# Returns {"address": "<IP>"}.
param(
    [Parameter(Mandatory = $true)]
    [string]$HostLocal,
    [Parameter(Mandatory = $true)]
    [string]$Request,
    [Parameter(Mandatory = $true)]
    [string]$ContainerId,
    [Parameter(Mandatory = $true)]
    [string]$IfName,
    [Parameter(Mandatory = $true)]
    [string]$CniPath
)
$ErrorActionPreference = 'Stop'

if (-not (Test-Path -LiteralPath $HostLocal -PathType Leaf)) {
    throw ($HostLocal + ' is not installed')
}
# The CNI runtime parameters, as the CNI specification passes them to a plugin (environment variables).
$env:CNI_COMMAND = 'ADD'
$env:CNI_CONTAINERID = $ContainerId
$env:CNI_NETNS = 'none'
$env:CNI_IFNAME = $IfName
$env:CNI_PATH = $CniPath
# host-local logs to stderr: merged with 'Continue' (under 'Stop', Windows PowerShell 5.1 turns the first
# stderr line of a redirected native command into a terminating error); the exit code decides.
$ErrorActionPreference = 'Continue'
$output = $Request | & $HostLocal 2>&1
$ErrorActionPreference = 'Stop'
if ($LASTEXITCODE -ne 0) {
    throw ('host-local failed (exit ' + $LASTEXITCODE + '): ' + ($output -join ' '))
}
$reply = ($output | ForEach-Object { [string]$_ }) -join "`n" | ConvertFrom-Json
$address = ([string]@($reply.ips)[0].address).Split('/')[0]
if ($address -eq '') {
    throw ('host-local returned no address: ' + ($output -join ' '))
}
@{ address = $address } | ConvertTo-Json -Compress
