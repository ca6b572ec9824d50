# hybridctl-script: win/nssm-service
# Creates or updates an nssm service from hybridctl's service definition. The application's arguments
# arrive already quoted as one command line (AppParameters) and the extra environment as NAME=value
# strings; both are written to nssm's registry values directly, because Windows PowerShell 5.1 drops the
# inner double quotes of arguments it passes to native programs such as nssm.exe. Everything else goes
# through 'nssm set'. Starts the service when Start is set. Returns {"created": bool, "status": ...}.
param(
    [Parameter(Mandatory = $true)]
    [string]$Nssm,
    [Parameter(Mandatory = $true)]
    [string]$Name,
    [Parameter(Mandatory = $true)]
    [string]$DisplayName,
    [Parameter(Mandatory = $true)]
    [string]$Application,
    [Parameter(Mandatory = $true)]
    [AllowEmptyString()]
    [string]$AppParameters,
    [string[]]$Environment = @(),
    [string[]]$DependOnService = @(),
    [Parameter(Mandatory = $true)]
    [string]$Stdout,
    [Parameter(Mandatory = $true)]
    [string]$Stderr,
    [int]$RotateFiles = 1,
    [int]$RotateOnline = 1,
    [int]$RotateSeconds = 86400,
    [int]$RotateBytes = 10485760,
    [string]$ExitAction = 'Restart',
    [int]$RestartDelay = 5000,
    [switch]$Start
)
$ErrorActionPreference = 'Stop'

function Invoke-Nssm {
    param(
        [string[]]$Arguments
    )
    $output = & $Nssm @Arguments 2>&1
    if ($LASTEXITCODE -ne 0) {
        throw ('nssm {0} failed (exit {1}): {2}' -f ($Arguments -join ' '), $LASTEXITCODE, ($output -join ' '))
    }
}

$created = $false
if ($null -eq (Get-Service -Name $Name -ErrorAction SilentlyContinue)) {
    Invoke-Nssm -Arguments @('install', $Name, $Application)
    $created = $true
}
Invoke-Nssm -Arguments @('set', $Name, 'Application', $Application)
Invoke-Nssm -Arguments @('set', $Name, 'DisplayName', $DisplayName)
Invoke-Nssm -Arguments @('set', $Name, 'Start', 'SERVICE_AUTO_START')
Invoke-Nssm -Arguments @('set', $Name, 'AppStdout', $Stdout)
Invoke-Nssm -Arguments @('set', $Name, 'AppStderr', $Stderr)
Invoke-Nssm -Arguments @('set', $Name, 'AppRotateFiles', [string]$RotateFiles)
Invoke-Nssm -Arguments @('set', $Name, 'AppRotateOnline', [string]$RotateOnline)
Invoke-Nssm -Arguments @('set', $Name, 'AppRotateSeconds', [string]$RotateSeconds)
Invoke-Nssm -Arguments @('set', $Name, 'AppRotateBytes', [string]$RotateBytes)
Invoke-Nssm -Arguments @('set', $Name, 'AppExit', 'Default', $ExitAction)
Invoke-Nssm -Arguments @('set', $Name, 'AppRestartDelay', [string]$RestartDelay)
if ($DependOnService.Count -gt 0) {
    Invoke-Nssm -Arguments (@('set', $Name, 'DependOnService') + $DependOnService)
}
else {
    Invoke-Nssm -Arguments @('reset', $Name, 'DependOnService')
}

$key = 'HKLM:\SYSTEM\CurrentControlSet\Services\' + $Name + '\Parameters'
Set-ItemProperty -LiteralPath $key -Name 'AppParameters' -Value $AppParameters -Type ExpandString
if ($Environment.Count -gt 0) {
    Set-ItemProperty -LiteralPath $key -Name 'AppEnvironmentExtra' -Value $Environment -Type MultiString
}
else {
    Remove-ItemProperty -LiteralPath $key -Name 'AppEnvironmentExtra' -ErrorAction SilentlyContinue
}

if ($Start) {
    $service = Get-Service -Name $Name
    if ($service.Status -eq 'Running') {
        # Restart-Service -Force stops the running services that depend on this one and does not start them
        # again (a restart is a stop plus a start: winsw/winsw#400); start them again here.
        $dependents = @($service.DependentServices | Where-Object { $_.Status -eq 'Running' } | ForEach-Object { $_.Name })
        Restart-Service -Name $Name -Force
        foreach ($dependent in $dependents) {
            Start-Service -Name $dependent
        }
    }
    else {
        Start-Service -Name $Name
    }
}
@{ created = $created; status = [string](Get-Service -Name $Name).Status } | ConvertTo-Json -Compress
