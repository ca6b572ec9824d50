"""Transport tests: SSH against real sshd test hosts, WinRM against the WinRM test endpoint."""
