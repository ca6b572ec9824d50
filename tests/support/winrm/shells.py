"""PowerShell Remoting shells behind the endpoint: psrpcore's server pool and pipelines, a thread per command.

Simulated: the PowerShell engine (scripts are answered by the host's handlers). Real: the PSRP messages and
fragments, serialised by psrpcore, that the unmodified pypsrp client parses.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import psrpcore
from psrpcore.types import (
    ErrorCategory,
    ErrorCategoryInfo,
    ErrorRecord,
    NETException,
    PSInvocationState,
    PSRPMessageType,
    PSVersion,
    RunspacePoolStateMsg,
    WarningRecord,
)

from tests.support.winrm.host import ScriptError, SimulatedWindowsHost, StopRequested

# Receive answers stay under MaxEnvelopeSizekb=500 once base64 and the SOAP envelope are added.
RECEIVE_BUDGET = 360_000
STOP_WAIT_SECONDS = 5.0
INTERNAL_ERROR_ID = "HybridctlSimulatorBug"


class ShellError(Exception):
    """A request the shell cannot serve; the endpoint turns it into a WS-Management fault."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class _Chunk:
    data: bytes
    pool_state: bool = False


@dataclass
class Received:
    """What one Receive answers: PSRP fragments and whether the command is done."""

    data: bytes
    done: bool


class _Pool(psrpcore.ServerRunspacePool):
    """A server pool that moves each message into a per-target outbox as soon as psrpcore prepares it."""

    def __init__(self, outbox: dict[uuid.UUID | None, deque[_Chunk]], private_data: dict[str, Any]) -> None:
        self._outbox = outbox
        super().__init__(application_private_data=private_data)

    def prepare_message(
        self, message: Any, message_type: Any = None, pipeline_id: Any = None, stream_type: Any = None
    ) -> None:
        """Queue the message (psrpcore API), then fragment it into the outbox of its pipeline or the pool."""
        kwargs = {} if stream_type is None else {"stream_type": stream_type}
        super().prepare_message(message, message_type, pipeline_id, **kwargs)
        is_state = isinstance(message, RunspacePoolStateMsg)
        while (payload := self.data_to_send(RECEIVE_BUDGET)) is not None:
            self._outbox.setdefault(payload.pipeline_id, deque()).append(_Chunk(payload.data, is_state))


@dataclass
class _Command:
    id: str
    pipeline: psrpcore.ServerPipeline
    cancelled: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    finished: bool = False


class _Sink:
    """Writes a handler's streams into its pipeline, under the shell's lock."""

    def __init__(self, shell: PsrpShell, command: _Command) -> None:
        self._shell = shell
        self._command = command

    def output(self, value: Any) -> None:
        """Write an output object."""
        self._write(lambda p: p.write_output(value))

    def error(self, message: str, error_id: str) -> None:
        """Write a non-terminating error record."""
        info = ErrorCategoryInfo(Category=ErrorCategory.NotSpecified, Reason="WriteErrorException")
        self._write(lambda p: p.write_error(NETException(Message=message), info, None, error_id))

    def warning(self, message: str) -> None:
        """Write a warning record."""
        record = WarningRecord(Message=message)
        # pypsrp shows a record's ToString; without it the warning reads "None".
        record.PSObject.to_string = message
        self._write(lambda p: p.prepare_message(record, message_type=PSRPMessageType.WarningRecord))

    def progress(self, activity: str, status: str, percent: int) -> None:
        """Write a progress record, as Write-Progress does in a remote runspace ([MS-PSRP] 2.2.2.25)."""
        self._write(lambda p: p.write_progress(activity, 0, status, percent_complete=percent))

    def _write(self, action: Any) -> None:
        with self._shell.cond:
            if self._command.pipeline.state != PSInvocationState.Running:
                raise StopRequested
            action(self._command.pipeline)
            self._shell.cond.notify_all()


class PsrpShell:
    """One RunspacePool shell: the pool, its commands, and the long-poll Receive."""

    def __init__(self, shell_id: str, host: SimulatedWindowsHost, *, linger: float = 0.5) -> None:
        self.id = shell_id.upper()
        self.host = host
        self.linger = linger
        self.cond = threading.Condition()
        self.closed = False
        self._outbox: dict[uuid.UUID | None, deque[_Chunk]] = {}
        self._commands: dict[str, _Command] = {}
        self.pool = _Pool(self._outbox, _private_data(host))

    def open(self, creation: bytes) -> None:
        """Feed the pool-open fragments from the Create request's creationXml."""
        with self.cond:
            self._feed(creation)

    def command(self, command_id: str, fragment: bytes) -> str:
        """Start a pipeline from its first CreatePipeline fragment; return the command id."""
        command_id = command_id.upper()
        with self.cond:
            self._check_open()
            pipeline = psrpcore.ServerPipeline(self.pool, uuid.UUID(command_id))
            self._commands[command_id] = _Command(command_id, pipeline)
            self._feed(fragment)
        return command_id

    def send(self, command_id: str | None, data: bytes) -> None:
        """More fragments (large CreatePipeline, pipeline input, host responses)."""
        with self.cond:
            self._check_open()
            self._feed(data)

    def receive(self, command_id: str | None, timeout: float) -> Received | None:
        """Wait for fragments for the pool or a command; None when ``timeout`` passes first."""
        deadline = time.monotonic() + timeout
        with self.cond:
            if not self._wait_ready(command_id, deadline):
                return None
            command = self._command(command_id) if command_id else None
            if command is not None and not command.finished:
                # Let a fast script finish so its output and end state travel in one Receive, as on Windows.
                self.cond.wait_for(
                    lambda: command.finished, max(0.0, min(self.linger, deadline - time.monotonic()))
                )
            return self._take(command)

    def signal(self, command_id: str, code: str) -> None:
        """ctrl_c stops a command; Terminate ends it; either way the command is gone afterwards."""
        with self.cond:
            command = self._commands.get(command_id.upper())
        if command is None:
            return
        command.cancelled.set()
        if command.thread is not None:
            command.thread.join(STOP_WAIT_SECONDS)
        with self.cond:
            self._discard(command)

    def close(self) -> None:
        """Stop every command and refuse further requests (Delete, restart, endpoint stop)."""
        with self.cond:
            self.closed = True
            commands = list(self._commands.values())
            for command in commands:
                command.cancelled.set()
            self.cond.notify_all()
        for command in commands:
            if command.thread is not None:
                command.thread.join(STOP_WAIT_SECONDS)

    def wake(self) -> None:
        """Wake every waiting Receive (after connections were dropped)."""
        with self.cond:
            self.cond.notify_all()

    def running_commands(self) -> list[str]:
        """Ids of commands whose script has not finished."""
        with self.cond:
            return [c.id for c in self._commands.values() if not c.finished]

    def _feed(self, data: bytes) -> None:
        self.pool.receive_data(psrpcore.PSRPPayload(data, psrpcore.StreamType.default, None))
        while (event := self.pool.next_event()) is not None:
            if isinstance(event, psrpcore.CreatePipelineEvent):
                self._start(self._commands[str(event.pipeline_id).upper()], event.pipeline)

    def _start(self, command: _Command, pipeline: psrpcore.PowerShell) -> None:
        # Windows sends no Running state; the client assumes it after Command.
        command.pipeline.state = PSInvocationState.Running
        first = pipeline.commands[0] if pipeline.commands else None
        script = first.command_text if first is not None and first.is_script else ""
        params = {str(name): plain(value) for name, value in (first.parameters if first else []) if name}
        command.thread = threading.Thread(
            target=self._run, args=(command, script, params), name=f"winrm-cmd-{command.id[:8]}", daemon=True
        )
        command.thread.start()

    def _run(self, command: _Command, script: str, params: Mapping[str, Any]) -> None:
        error: ScriptError | None = None
        stopped = False
        try:
            self.host.run(script, params, _Sink(self, command), command.cancelled)
        except StopRequested:
            stopped = True
        except ScriptError as exc:
            error = exc
        except Exception as exc:  # a bug in a handler must fail the command visibly, not hang the client
            error = ScriptError(f"simulator handler crashed: {exc!r}", error_id=INTERNAL_ERROR_ID)
        with self.cond:
            self._finish(command, stopped, error)

    def _finish(self, command: _Command, stopped: bool, error: ScriptError | None) -> None:
        pipeline = command.pipeline
        if pipeline.state == PSInvocationState.Running:
            if stopped:
                pipeline.stop()
            elif error is not None:
                # psrpcore has no public "fail"; a Failed state with the error is what Windows sends.
                pipeline._change_state(PSInvocationState.Failed, error=_error_record(error))
            else:
                pipeline.complete()
        command.finished = True
        self.cond.notify_all()

    def _wait_ready(self, command_id: str | None, deadline: float) -> bool:
        while True:
            self._check_open()
            command = self._command(command_id) if command_id else None
            if self._outbox.get(command.pipeline.pipeline_id if command else None) or (
                command and command.finished
            ):
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.cond.wait(remaining)

    def _take(self, command: _Command | None) -> Received:
        queue = self._outbox.get(command.pipeline.pipeline_id if command else None, deque())
        taken: list[bytes] = []
        size = 0
        while queue and (not taken or size + len(queue[0].data) <= RECEIVE_BUDGET):
            # Windows answers the pool open in two Receives: the pool state comes on its own.
            if command is None and queue[0].pool_state and taken:
                break
            chunk = queue.popleft()
            taken.append(chunk.data)
            size += len(chunk.data)
        done = command is not None and command.finished and not queue
        if done and command is not None:
            self._discard(command)
        return Received(b"".join(taken), done)

    def _discard(self, command: _Command) -> None:
        self._commands.pop(command.id, None)
        self._outbox.pop(command.pipeline.pipeline_id, None)
        if command.pipeline.state == PSInvocationState.Running:
            command.pipeline.state = PSInvocationState.Stopped
        command.pipeline.close()

    def _command(self, command_id: str | None) -> _Command:
        command = self._commands.get((command_id or "").upper())
        if command is None:
            raise ShellError(2150858843, f"The command {command_id} was not found in shell {self.id}.")
        return command

    def _check_open(self) -> None:
        if self.closed:
            raise ShellError(2150858843, f"The shell {self.id} was not found on the server.")


def plain(value: Any) -> Any:
    """A deserialised PSRP value as plain Python (str, int, float, bool, list, dict, None)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, dict):
        return {str(plain(k)): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    for kind in (str, int, float):
        if isinstance(value, kind):
            return kind(value)
    return str(value)


def _error_record(error: ScriptError) -> ErrorRecord:
    return ErrorRecord(
        Exception=NETException(Message=error.message),
        CategoryInfo=ErrorCategoryInfo(Category=ErrorCategory(error.category), Reason="RuntimeException"),
        FullyQualifiedErrorId=error.error_id,
    )


def _private_data(host: SimulatedWindowsHost) -> dict[str, Any]:
    build = host.machine.build
    return {
        "PSVersionTable": {
            "PSVersion": PSVersion(f"5.1.{build}.1"),
            "PSEdition": "Desktop",
            "BuildVersion": PSVersion(f"10.0.{build}.1"),
            "WSManStackVersion": PSVersion("3.0"),
        }
    }
