# Rendered by hybridctl for "win2022": runs at every boot (scheduled task, as SYSTEM).
# Restores the pod network first, then starts the node agents in dependency order:
# containerd -> kubelet -> flanneld -> kube-proxy. flanneld recreates its non-persistent overlay network
# itself; kube-proxy must only start once that network exists.
# Safe to run at any time: every step checks before it changes anything.
$ErrorActionPreference = 'Stop'

$LogDir = 'C:\var\log\hybridctl'
$NetworkName = 'flannel.4096'
$InterfaceAlias = 'vEthernet (Ethernet)'

function Write-BootLog {
    param(
        [string]$Message
    )
    if (-not (Test-Path -Path $LogDir)) {
        New-Item -ItemType Directory -Path $LogDir -Force | Out-Null
    }
    $line = (Get-Date).ToString('o') + ' ' + $Message
    Add-Content -Path (Join-Path $LogDir 'boot.log') -Value $line -Encoding ascii
    Write-Output $line
}

function Start-NodeService {
    param(
        [string]$Name
    )
    $service = Get-Service -Name $Name -ErrorAction SilentlyContinue
    if ($null -eq $service) {
        throw ('service ' + $Name + ' is not installed')
    }
    if ($service.Status -ne 'Running') {
        Start-Service -Name $Name
        Write-BootLog ('started ' + $Name)
    }
}

# HNS is reached through HNSCall in vmcompute.dll, as microsoft/SDN's hns.psm1 does, so the boot path
# needs no module that could be missing.
$HnsSignature = @'
[DllImport("vmcompute.dll")]
public static extern void HNSCall([MarshalAs(UnmanagedType.LPWStr)] string method, [MarshalAs(UnmanagedType.LPWStr)] string path, [MarshalAs(UnmanagedType.LPWStr)] string request, [MarshalAs(UnmanagedType.LPWStr)] out string response);
'@
$HnsApi = Add-Type -MemberDefinition $HnsSignature -Namespace 'Hybridctl.Hns' -Name 'NativeMethods' -PassThru

function Invoke-Hns {
    param(
        [string]$Method,
        [string]$Path,
        [string]$Request
    )
    $response = ''
    $HnsApi::HNSCall($Method, $Path, $Request, [ref]$response)
    $reply = $response | ConvertFrom-Json
    if ($reply.Error) {
        throw ('HNS ' + $Method + ' ' + $Path + ' failed: ' + $reply.Error)
    }
    return $reply.Output
}

function Get-HnsObjectByName {
    param(
        [string]$Kind,
        [string]$Name
    )
    foreach ($item in (Invoke-Hns -Method 'GET' -Path ('/' + $Kind) -Request '')) {
        if ($item.Name -eq $Name) {
            return $item
        }
    }
    return $null
}

function Wait-HnsNetwork {
    param(
        [int]$Seconds
    )
    $deadline = (Get-Date).AddSeconds($Seconds)
    while ((Get-Date) -lt $deadline) {
        if ($null -ne (Get-HnsObjectByName -Kind 'networks' -Name $NetworkName)) {
            return
        }
        Start-Sleep -Seconds 2
    }
    throw ('HNS network ' + $NetworkName + ' did not appear within ' + $Seconds + ' seconds')
}

Write-BootLog ('boot script for ' + $env:COMPUTERNAME + ', network ' + $NetworkName)
# kube-proxy would program load balancers against a network that is still being restored.
Stop-Service -Name 'kube-proxy' -ErrorAction SilentlyContinue
Start-NodeService -Name 'containerd'
Start-NodeService -Name 'kubelet'
Start-NodeService -Name 'flanneld'
Wait-HnsNetwork -Seconds 300
Start-NodeService -Name 'kube-proxy'
Write-BootLog 'node agents running'
