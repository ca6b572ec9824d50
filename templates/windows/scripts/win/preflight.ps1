# hybridctl-script: win/preflight
# Read-only: the facts the Windows preflight judges (reference W1/W2), as one JSON object. The API
# endpoint check is a plain TCP connect with a timeout (what Test-NetConnection -Port does, without its
# slow ICMP and name-resolution probes).
param(
    [Parameter(Mandatory = $true)]
    [string]$ApiHost,
    [Parameter(Mandatory = $true)]
    [int]$ApiPort,
    [int]$TimeoutMs = 3000,
    [string]$HotFix = '',
    [string]$NodeAddress = '',
    [string[]]$ModePaths = @()
)
$ErrorActionPreference = 'Stop'

$os = Get-CimInstance -ClassName Win32_OperatingSystem
$identity = [System.Security.Principal.WindowsIdentity]::GetCurrent()
$principal = New-Object -TypeName System.Security.Principal.WindowsPrincipal -ArgumentList $identity
$admin = $principal.IsInRole([System.Security.Principal.WindowsBuiltInRole]::Administrator)
$culture = [System.Globalization.CultureInfo]::InvariantCulture

$time = Get-Service -Name 'W32Time' -ErrorAction SilentlyContinue
if ($null -eq $time) {
    $timeStatus = 'Missing'
}
else {
    $timeStatus = [string]$time.Status
}

# 'refused' still proves the route to the control plane: before kubeadm init nothing listens there.
$api = 'timeout'
$client = New-Object -TypeName System.Net.Sockets.TcpClient
try {
    $attempt = $client.BeginConnect($ApiHost, $ApiPort, $null, $null)
    if ($attempt.AsyncWaitHandle.WaitOne($TimeoutMs)) {
        $client.EndConnect($attempt)
        $api = 'connected'
    }
}
catch {
    $inner = $_.Exception
    while ($null -ne $inner.InnerException) {
        $inner = $inner.InnerException
    }
    if (($inner -is [System.Net.Sockets.SocketException]) -and ([string]$inner.SocketErrorCode -eq 'ConnectionRefused')) {
        $api = 'refused'
    }
    else {
        $api = 'error: ' + $inner.Message
    }
}
finally {
    $client.Close()
}

# Hyper-V isolation needs virtualisation in firmware and SLAT, unless a hypervisor already runs (then the
# processor reports neither).
$cpu = @(Get-CimInstance -ClassName Win32_Processor)[0]
$system = Get-CimInstance -ClassName Win32_ComputerSystem
$hyperv = [bool]$system.HypervisorPresent
if (-not $hyperv) {
    $hyperv = [bool]$cpu.VirtualizationFirmwareEnabled -and [bool]$cpu.SecondLevelAddressTranslationExtensions
}

$hotFixPresent = $null
if ($HotFix -ne '') {
    $hotFixPresent = $null -ne (Get-HotFix -Id $HotFix -ErrorAction SilentlyContinue)
}

# The adapter that owns the node's address, found by address as flanneld's --iface does: VMware guests
# call it 'Ethernet0', Hyper-V and Azure guests often 'Ethernet 2' (microsoft/SDN#300). Once the L2Bridge
# network exists the address lives on 'vEthernet (<adapter>)'.
# .NET names each interface by its alias, as Get-NetIPAddress's InterfaceAlias does.
$nodeAdapter = $null
if ($NodeAddress -ne '') {
    foreach ($nic in [System.Net.NetworkInformation.NetworkInterface]::GetAllNetworkInterfaces()) {
        foreach ($unicast in $nic.GetIPProperties().UnicastAddresses) {
            if ($unicast.Address.ToString() -eq $NodeAddress) {
                $nodeAdapter = [string]$nic.Name
            }
        }
    }
}

# Files that show the node runs the other network mode's pod network (hybridctl refuses to switch).
$modePaths = @($ModePaths | Where-Object { Test-Path -LiteralPath $_ })

# A restart node/reboot scheduled that has not happened yet (a run stopped while it waited for it): its
# task last ran after this boot. LastRunTime (MSFT_TaskDynamicInfo) is when the task last started
# (IRegisteredTask::get_LastRunTime); both times are local.
$restartScheduledSecondsAgo = $null
$rebootTask = Get-ScheduledTask -TaskName 'hybridctl-reboot' -ErrorAction SilentlyContinue
if ($null -ne $rebootTask) {
    $lastRun = (Get-ScheduledTaskInfo -InputObject $rebootTask).LastRunTime
    if (($null -ne $lastRun) -and ($lastRun -gt $os.LastBootUpTime)) {
        $restartScheduledSecondsAgo = [int]((Get-Date) - $lastRun).TotalSeconds
    }
}

$facts = @{
    hostname = [System.Net.Dns]::GetHostName()
    build = [string]$os.Version
    caption = [string]$os.Caption
    isAdmin = [bool]$admin
    w32time = $timeStatus
    utcNow = [DateTime]::UtcNow.ToString('yyyy-MM-ddTHH:mm:ss.fffZ', $culture)
    api = $api
    hypervCapable = $hyperv
    hotFixPresent = $hotFixPresent
    nodeAdapter = $nodeAdapter
    modePaths = $modePaths
    restartScheduledSecondsAgo = $restartScheduledSecondsAgo
}
$facts | ConvertTo-Json -Compress
