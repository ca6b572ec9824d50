"""Keep secrets out of logs, the journal, JSON events and exception text."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from pydantic import SecretStr

MASK = "***"
MIN_SECRET_LENGTH = 4


class Masker:
    """Replaces every registered secret value with ``***`` in any text it is given."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()
        self.add(*secrets)

    def add(self, *secrets: str | SecretStr | None) -> None:
        """Register more secret values (short ones would mask ordinary words and are kept as is)."""
        values = {s.get_secret_value() if isinstance(s, SecretStr) else s for s in secrets if s is not None}
        with self._lock:
            merged = set(self._secrets) | {v for v in values if len(v) >= MIN_SECRET_LENGTH}
            self._secrets = tuple(sorted(merged, key=len, reverse=True))

    def mask(self, text: str) -> str:
        """``text`` with every secret replaced."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def __contains__(self, text: str) -> bool:
        return any(secret in text for secret in self._secrets)
