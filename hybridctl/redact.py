"""Remove credentials from diagnostic text before it leaves hybridctl (``hybridctl support-bundle``).

Two layers: the run's ``Masker`` replaces every secret value hybridctl knows (inventory passwords and
passphrases, tokens it created); patterns then catch credentials it never saw: bootstrap tokens, service
account tokens (JWTs), PEM private keys, base64 keys and tokens in kubeconfigs and kubeadm configs, and
password-like settings.
"""

from __future__ import annotations

import re

from hybridctl.masking import MASK, Masker

_PATTERNS = (
    # PEM private keys of any kind, whole block
    re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?-----END [A-Z0-9 ]*PRIVATE KEY-----", re.DOTALL),
    # service-account and other JWTs
    re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"),
    # kubeadm bootstrap tokens: [a-z0-9]{6}.[a-z0-9]{16}
    re.compile(r"\b[a-z0-9]{6}\.[a-z0-9]{16}\b"),
)
_SETTINGS = re.compile(
    r"(?P<key>\b(?:client-key-data|token|certificate-key|certificateKey|password|passwd|secret|"
    r"private-key|privateKey)\b[\"']?\s*[:=]\s*)(?P<value>\"[^\"\n]*\"|'[^'\n]*'|[^\s,}\]]+)",
    re.IGNORECASE,
)
_FLAGS = re.compile(r"(?P<key>--(?:token|password|certificate-key)[= ])(?P<value>\S+)", re.IGNORECASE)


def redact(text: str, masker: Masker) -> str:
    """``text`` with every known secret and every credential-shaped value replaced by ``***``."""
    text = masker.mask(text)
    for pattern in _PATTERNS:
        text = pattern.sub(MASK, text)
    text = _SETTINGS.sub(_keep_key, text)
    return _FLAGS.sub(_keep_key, text)


def _keep_key(match: re.Match[str]) -> str:
    value = match.group("value")
    if value.strip("\"'") in ("", MASK, "null", "None"):
        return match.group(0)
    return match.group("key") + MASK
