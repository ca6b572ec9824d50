# Rendered by hybridctl for "win1": firewall rules for the node's ports ("routes" mode).
# Idempotent: each rule is created or corrected; rules named hybridctl-* that are no longer wanted are
# removed. The firewall itself stays on: hybridctl never changes its profiles.
$ErrorActionPreference = 'Stop'

function Test-HybridctlRule {
    param(
        [string]$Name,
        [string]$Direction,
        [string]$Protocol,
        [string]$Port
    )
    $rule = Get-NetFirewallRule -Name $Name -ErrorAction SilentlyContinue
    if ($null -eq $rule) {
        return $false
    }
    $filter = Get-NetFirewallPortFilter -AssociatedNetFirewallRule $rule
    if ($Direction -eq 'Inbound') {
        $actual = [string]$filter.LocalPort
    } else {
        $actual = [string]$filter.RemotePort
    }
    $same = ([string]$rule.Enabled -eq 'True') -and ([string]$rule.Action -eq 'Allow')
    $same = $same -and ([string]$rule.Direction -eq $Direction) -and ([string]$filter.Protocol -eq $Protocol)
    return ($same -and ($actual -eq $Port))
}

function Set-HybridctlRule {
    param(
        [string]$Name,
        [string]$DisplayName,
        [string]$Direction,
        [string]$Protocol,
        [string]$Port
    )
    if (Test-HybridctlRule -Name $Name -Direction $Direction -Protocol $Protocol -Port $Port) {
        Write-Output ('unchanged ' + $Name)
        return
    }
    Remove-NetFirewallRule -Name $Name -ErrorAction SilentlyContinue
    if ($Direction -eq 'Inbound') {
        New-NetFirewallRule -Name $Name -DisplayName $DisplayName -Group 'hybridctl' -Direction Inbound -Action Allow -Protocol $Protocol -LocalPort $Port -Enabled True | Out-Null
    } else {
        New-NetFirewallRule -Name $Name -DisplayName $DisplayName -Group 'hybridctl' -Direction Outbound -Action Allow -Protocol $Protocol -RemotePort $Port -Enabled True | Out-Null
    }
    Write-Output ('changed ' + $Name)
}

# Ports of the reference's section 2.3 that this network mode needs, nothing more.
$Wanted = @(
    'hybridctl-kubelet'
    'hybridctl-kube-proxy-health'
    'hybridctl-nodeports'
)
Set-HybridctlRule -Name 'hybridctl-kubelet' -DisplayName 'hybridctl: kubelet API' -Direction 'Inbound' -Protocol 'TCP' -Port '10250'
Set-HybridctlRule -Name 'hybridctl-kube-proxy-health' -DisplayName 'hybridctl: kube-proxy health checks' -Direction 'Inbound' -Protocol 'TCP' -Port '10256'
Set-HybridctlRule -Name 'hybridctl-nodeports' -DisplayName 'hybridctl: NodePort services' -Direction 'Inbound' -Protocol 'TCP' -Port '30000-32767'

$stale = Get-NetFirewallRule -Name 'hybridctl-*' -ErrorAction SilentlyContinue
foreach ($rule in $stale) {
    if ($Wanted -notcontains $rule.Name) {
        Write-Output ('removing ' + $rule.Name)
        Remove-NetFirewallRule -Name $rule.Name
    }
}
