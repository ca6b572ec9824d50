"""What ``support-bundle`` removes from collected text: known secrets and credential-shaped values.

Tier: unit. Real: ``hybridctl.redact`` on text shaped like the files and command outputs the bundle
collects (kubeconfig, kubeadm config, kubelet flags, JSON from PowerShell). Simulated: nothing.
"""

from __future__ import annotations

from hybridctl.masking import Masker
from hybridctl.redact import redact

KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQifQ.c2lnbmF0dXJl"


def test_known_secrets_and_credential_shapes_are_masked() -> None:
    text = "\n".join(
        [
            "password: hunter2-winrm",
            "  client-key-data: LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0t",
            "    token: abcdef.0123456789abcdef",
            f"user token {JWT} seen",
            KEY,
            "kubeadm join 10.0.0.1:6443 --token q1w2e3.r4t5y6u7i8o9p0a1 "
            "--discovery-token-ca-cert-hash sha256:00",
            '{"Password":"P@ss w0rd","name":"x"}',
            "certificateKey: 0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0",
        ]
    )
    masked = redact(text, Masker(["hunter2-winrm", "P@ss w0rd"]))
    for secret in (
        "hunter2-winrm",
        "LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0t",
        "abcdef.0123456789abcdef",
        JWT,
        "b3BlbnNzaC1rZXktdjEAAAAA",
        "q1w2e3.r4t5y6u7i8o9p0a1",
        "P@ss w0rd",
        "0f1e2d3c4b5a6978",
    ):
        assert secret not in masked, secret
    assert '"name":"x"' in masked and "--discovery-token-ca-cert-hash sha256:00" in masked


def test_ordinary_text_is_kept() -> None:
    text = "route 10.244.1.0/24 via 10.0.0.11 dev eth0\nkubelet v1.34.2 started\ntoken: null\n"
    assert redact(text, Masker()) == text
