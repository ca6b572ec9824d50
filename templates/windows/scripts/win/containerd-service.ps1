# hybridctl-script: win/containerd-service
# Registers containerd as a Windows service (containerd.exe --register-service) when it is not one yet,
# sets it to start automatically, starts it and waits for its named pipe. Returns the service state.
param(
    [Parameter(Mandatory = $true)]
    [string]$Exe,
    [Parameter(Mandatory = $true)]
    [string]$Pipe,
    [int]$WaitSeconds = 60
)
$ErrorActionPreference = 'Stop'

$registered = $false
if ($null -eq (Get-Service -Name 'containerd' -ErrorAction SilentlyContinue)) {
    & $Exe --register-service
    if ($LASTEXITCODE -ne 0) {
        throw ('containerd.exe --register-service failed (exit {0})' -f $LASTEXITCODE)
    }
    $registered = $true
}
Set-Service -Name 'containerd' -StartupType Automatic
$service = Get-Service -Name 'containerd'
if ($service.Status -ne 'Running') {
    Start-Service -Name 'containerd'
}
$deadline = (Get-Date).AddSeconds($WaitSeconds)
while (-not (Test-Path -LiteralPath $Pipe)) {
    if ((Get-Date) -gt $deadline) {
        throw ('containerd runs but its pipe {0} did not appear within {1} seconds' -f $Pipe, $WaitSeconds)
    }
    Start-Sleep -Seconds 1
}
@{ registered = $registered; status = [string](Get-Service -Name 'containerd').Status } | ConvertTo-Json -Compress
