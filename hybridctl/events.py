"""Run events: what the runner reports, and the sinks that turn them into JSON lines, journals and reports."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, TextIO

from hybridctl.masking import Masker


class Outcome(StrEnum):
    """What a step did on a host."""

    OK = "ok"
    CHANGED = "changed"
    SKIPPED = "skipped"
    FAILED = "failed"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class Event:
    """One thing that happened during a run; ``kind`` is stable and documented."""

    kind: str
    data: dict[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        """The JSON Lines form: ``{"event": kind, "time": ..., ...data}``."""
        return {"event": self.kind, "time": round(self.time, 3), **self.data}


class EventSink(Protocol):
    """Receives every event of a run."""

    def emit(self, event: Event) -> None:
        """Handle one event (must be thread-safe)."""
        ...


class Fanout:
    """Sends each event to several sinks."""

    def __init__(self, sinks: Iterable[EventSink]) -> None:
        self.sinks = list(sinks)

    def emit(self, event: Event) -> None:
        """Forward ``event`` to every sink."""
        for sink in self.sinks:
            sink.emit(event)


class JsonLines:
    """Writes events as masked JSON Lines (``--output json`` on stdout, the journal on disk)."""

    def __init__(self, stream: TextIO, masker: Masker, *, kinds: frozenset[str] | None = None) -> None:
        self._stream = stream
        self._masker = masker
        self._kinds = kinds
        self._lock = threading.Lock()

    def emit(self, event: Event) -> None:
        """Write one line and flush it."""
        if self._kinds is not None and event.kind not in self._kinds:
            return
        line = self._masker.mask(json.dumps(event.to_json(), ensure_ascii=False, default=str))
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()


class Recorder:
    """Keeps events in memory (tests, JUnit, summaries)."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()

    def emit(self, event: Event) -> None:
        """Remember ``event``."""
        with self._lock:
            self.events.append(event)

    def of_kind(self, kind: str) -> list[Event]:
        """Events of one kind, in order."""
        with self._lock:
            return [e for e in self.events if e.kind == kind]
