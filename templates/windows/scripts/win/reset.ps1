# hybridctl-script: win/reset
# Removes what hybridctl set up on a Windows node, in reverse dependency order, tolerating anything that
# is already gone (safe to run again after a partial failure): the nssm services (kube-proxy, then
# kubelet), every pod sandbox (crictl rmp --all --force while containerd still runs, as kubeadm reset
# stops and removes every sandbox through the CRI: the CNI plugin deletes each pod's HNS endpoint, and the
# pods' containers, which run under containerd-shim-runhcs-v1 and outlive the containerd service, stop),
# containerd's service, the HNS endpoints and networks hybridctl made, static routes into the
# cluster pod network, hybridctl-* firewall rules, the boot and restart tasks, hybridctl's directories and machine PATH
# entries. Windows features stay. Returns {"removed": [...]}, one line per thing removed.
param(
    [string]$Nssm = '',
    [string[]]$NssmServices = @(),
    [string]$ContainerdExe = '',
    [string]$Crictl = '',
    [string]$RuntimeEndpoint = '',
    [string[]]$Endpoints = @(),
    [string[]]$Networks = @(),
    [string]$RouteInterface = '',
    [string[]]$RoutePrefixes = @(),
    [string]$FirewallPrefix = '',
    [string[]]$TaskNames = @(),
    [string[]]$Directories = @(),
    [string[]]$PathEntries = @()
)
$ErrorActionPreference = 'Stop'
$removed = @()

foreach ($name in $NssmServices) {
    $service = Get-Service -Name $name -ErrorAction SilentlyContinue
    if ($null -eq $service) {
        continue
    }
    if ($service.Status -ne 'Stopped') {
        Stop-Service -Name $name -Force
    }
    if (($Nssm -ne '') -and (Test-Path -LiteralPath $Nssm)) {
        & $Nssm remove $name confirm | Out-Null
    }
    else {
        & sc.exe delete $name | Out-Null
    }
    $removed += ('service ' + $name)
}

$containerd = Get-Service -Name 'containerd' -ErrorAction SilentlyContinue
$criUp = ($null -ne $containerd) -and ($containerd.Status -eq 'Running')
if ($criUp -and ($Crictl -ne '') -and (Test-Path -LiteralPath $Crictl)) {
    # The kubelet is stopped above, so nothing recreates a sandbox removed here. crictl's log lines go to
    # stderr: merged into the output with 'Continue' (under 'Stop', Windows PowerShell 5.1 turns the first
    # stderr line of a redirected native command into a terminating error); the exit code decides.
    $ErrorActionPreference = 'Continue'
    $output = & $Crictl --runtime-endpoint $RuntimeEndpoint --image-endpoint $RuntimeEndpoint rmp --all --force 2>&1
    $ErrorActionPreference = 'Stop'
    if ($LASTEXITCODE -ne 0) {
        throw ('crictl rmp --all --force failed: ' + ($output -join ' '))
    }
    $removed += 'pod sandboxes'
}
if ($null -ne $containerd) {
    if ($containerd.Status -ne 'Stopped') {
        Stop-Service -Name 'containerd' -Force
    }
    if (($ContainerdExe -ne '') -and (Test-Path -LiteralPath $ContainerdExe)) {
        & $ContainerdExe --unregister-service | Out-Null
    }
    else {
        & sc.exe delete containerd | Out-Null
    }
    $removed += 'service containerd'
}

if (($Endpoints.Count + $Networks.Count) -gt 0) {
    $signature = @'
[DllImport("vmcompute.dll")]
public static extern void HNSCall([MarshalAs(UnmanagedType.LPWStr)] string method, [MarshalAs(UnmanagedType.LPWStr)] string path, [MarshalAs(UnmanagedType.LPWStr)] string request, [MarshalAs(UnmanagedType.LPWStr)] out string response);
'@
    $api = Add-Type -MemberDefinition $signature -Namespace 'Hybridctl.HnsReset' -Name 'NativeMethods' -PassThru
    # Endpoints first, every one on a network being removed (pods' too, not only the host endpoint): HNS
    # refuses to delete a network that still has endpoints (reference section 8.1 steps 4-5; microsoft/SDN
    # and sig-windows-tools remove containers and endpoints before networks). Errors are not ignored.
    foreach ($kind in @('endpoints', 'networks')) {
        $response = ''
        $api::HNSCall('GET', '/' + $kind, '', [ref]$response)
        foreach ($item in @(($response | ConvertFrom-Json).Output)) {
            if ($null -eq $item) {
                continue
            }
            if ($kind -eq 'endpoints') {
                $wanted = ($Endpoints -contains $item.Name) -or ($Networks -contains $item.VirtualNetworkName)
            }
            else {
                $wanted = $Networks -contains $item.Name
            }
            if ($wanted) {
                $api::HNSCall('DELETE', '/' + $kind + '/' + $item.ID, '', [ref]$response)
                $reply = $response | ConvertFrom-Json
                if ($reply.Error) {
                    throw ('HNS DELETE of ' + $kind + ' ' + $item.Name + ' failed: ' + $reply.Error)
                }
                $removed += ('hns ' + $kind + ' ' + $item.Name)
            }
        }
    }
}

if ($RouteInterface -ne '') {
    foreach ($store in @('ActiveStore', 'PersistentStore')) {
        $routes = Get-NetRoute -InterfaceAlias $RouteInterface -AddressFamily IPv4 -PolicyStore $store -ErrorAction SilentlyContinue
        foreach ($route in @($routes)) {
            if (($null -ne $route) -and ($RoutePrefixes -contains [string]$route.DestinationPrefix)) {
                $route | Remove-NetRoute -Confirm:$false
                $removed += ('route ' + [string]$route.DestinationPrefix + ' ' + $store)
            }
        }
    }
}

if ($FirewallPrefix -ne '') {
    foreach ($rule in @(Get-NetFirewallRule -Name ($FirewallPrefix + '*') -ErrorAction SilentlyContinue)) {
        if ($null -ne $rule) {
            Remove-NetFirewallRule -Name $rule.Name
            $removed += ('firewall rule ' + $rule.Name)
        }
    }
}

foreach ($name in $TaskNames) {
    if ($null -ne (Get-ScheduledTask -TaskName $name -ErrorAction SilentlyContinue)) {
        Unregister-ScheduledTask -TaskName $name -Confirm:$false
        $removed += ('task ' + $name)
    }
}

foreach ($path in $Directories) {
    if (Test-Path -LiteralPath $path) {
        Remove-Item -LiteralPath $path -Recurse -Force
        $removed += ('directory ' + $path)
    }
}

if ($PathEntries.Count -gt 0) {
    $machinePath = [Environment]::GetEnvironmentVariable('Path', 'Machine')
    $entries = @($machinePath -split ';' | Where-Object { $_ -ne '' })
    $kept = @($entries | Where-Object { $PathEntries -notcontains $_ })
    if ($kept.Count -ne $entries.Count) {
        [Environment]::SetEnvironmentVariable('Path', ($kept -join ';'), 'Machine')
        $removed += 'machine PATH entries'
    }
}
@{ removed = $removed } | ConvertTo-Json -Compress
