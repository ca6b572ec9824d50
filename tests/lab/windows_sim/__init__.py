"""Lab-side simulation of Windows workers: mirror artifacts, a fake first control plane, namespaced hosts.

Tier: lab. Real: pypsrp, HTTP(S)/TLS, the WinRM protocol, HTTP downloads with sha256 checks, and (in
``netns``) Linux network namespaces, bridges and kernel routes standing in for HNS. Simulated: the Windows
OS and its agents (tests/support/winrm), the control plane (tests/lab/cluster_model.py).
"""
