# hybridctl-script: test/drop-connection
# Test only: the simulator closes every client TCP connection after AfterSeconds, while the client's
# Receive is waiting, then the script keeps running for HoldSeconds. On Windows this is a plain sleep.
param(
    [double]$AfterSeconds,
    [double]$HoldSeconds
)
Start-Sleep -Milliseconds ([int](($AfterSeconds + $HoldSeconds) * 1000))
