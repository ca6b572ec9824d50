# hybridctl-script: win/protect-paths
# Gives each existing path an explicit ACL: SYSTEM and Administrators full control, inheritance from the
# parent off (directories pass their rules on to what is created inside). Directories created under C:\
# otherwise inherit read access for BUILTIN\Users, which would expose the kubelet's client key, its
# kubeconfig, the bootstrap token and kube-proxy's ServiceAccount token to every local user (Kubernetes
# documentation, Windows security: protect such files with ACLs). Well-known SIDs, so any language works.
# Returns {"protected": [...]}.
param(
    [Parameter(Mandatory = $true)]
    [string[]]$Paths
)
$ErrorActionPreference = 'Stop'

$system = New-Object -TypeName System.Security.Principal.SecurityIdentifier -ArgumentList 'S-1-5-18'
$admins = New-Object -TypeName System.Security.Principal.SecurityIdentifier -ArgumentList 'S-1-5-32-544'
$done = @()
foreach ($path in $Paths) {
    if (-not (Test-Path -LiteralPath $path)) {
        continue
    }
    $item = Get-Item -LiteralPath $path -Force
    if ($item.PSIsContainer) {
        $acl = New-Object -TypeName System.Security.AccessControl.DirectorySecurity
        $inherit = [System.Security.AccessControl.InheritanceFlags]'ContainerInherit, ObjectInherit'
    }
    else {
        $acl = New-Object -TypeName System.Security.AccessControl.FileSecurity
        $inherit = [System.Security.AccessControl.InheritanceFlags]::None
    }
    $acl.SetAccessRuleProtection($true, $false)
    foreach ($sid in @($system, $admins)) {
        $rule = New-Object -TypeName System.Security.AccessControl.FileSystemAccessRule -ArgumentList $sid, 'FullControl', $inherit, 'None', 'Allow'
        $acl.AddAccessRule($rule)
    }
    $item.SetAccessControl($acl)
    $done += $path
}
@{ protected = $done } | ConvertTo-Json -Compress
