"""Handlers for hybridctl's own transport and node scripts (``templates/windows/scripts/{transport,node}``).

Each mirrors what its PowerShell script does on Windows, against the ``WindowsMachine`` model. The
download handler fetches for real, but only from loopback URLs (tests serve files on 127.0.0.1).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import ipaddress
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from tests.support.winrm.host import ScriptContext, ScriptRegistry
from tests.support.winrm.machine import utcnow

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
LAB_NETWORK = ipaddress.ip_network("10.231.0.0/16")  # the lab's own test hosts and mirror
DOWNLOAD_TIMEOUT = 30.0
READ_BYTES = 1024 * 1024
REPORT_SECONDS = 1.0  # node/download.ps1's $ReportSeconds
ByteReport = Callable[[int, int | None], None]


def register_builtin(registry: ScriptRegistry) -> ScriptRegistry:
    """Register the handlers for every transport/* and node/* script hybridctl ships."""
    registry.register("transport/put-chunk", put_chunk)
    registry.register("transport/put-commit", put_commit)
    registry.register("transport/get-chunk", get_chunk)
    registry.register("node/boot-time", boot_time)
    registry.register("node/reboot", reboot)
    registry.register("node/download", download)
    registry.register("node/facts", facts)
    return registry


def facts(ctx: ScriptContext) -> None:
    """node/facts: hostname, build, caption, arch, UTC time (with the machine's clock offset), rights."""
    machine = ctx.machine
    now = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=machine.clock_offset)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    reply = {
        "hostname": machine.hostname,
        "build": machine.version,
        "caption": machine.edition,
        "arch": "AMD64",
        "utcNow": stamp,
        "isAdmin": machine.is_admin,
        "psVersion": "5.1.20348.2849",
    }
    ctx.output(json.dumps(reply, separators=(",", ":")))


def put_chunk(ctx: ScriptContext) -> None:
    """Append a base64 chunk at Offset (Offset 0 creates the file)."""
    path, offset = str(ctx.require("Path")), int(ctx.require("Offset"))
    try:
        data = base64.b64decode(str(ctx.param("Data") or ""), validate=True)
    except binascii.Error:
        ctx.fail("The input is not a valid Base-64 string.", "FormatException")
    machine = ctx.machine
    with machine.lock:
        if offset == 0:
            machine.write_file(path, b"")
        size = machine.file_size(path)
        if size is None:
            ctx.fail(f"Could not find file '{path}'.", "FileNotFoundException")
        if size != offset:
            ctx.fail(f"upload chunk out of order: {path} holds {size} bytes, expected {offset}")
        machine.append_file(path, data)


def put_commit(ctx: ScriptContext) -> None:
    """Check the temporary file's sha256, then move it over Path."""
    temp, path = str(ctx.require("TempPath")), str(ctx.require("Path"))
    expected = str(ctx.require("Sha256")).lower()
    machine = ctx.machine
    with machine.lock:
        actual = hashlib.sha256(_read(ctx, temp)).hexdigest()
        if actual != expected:
            machine.delete_file(temp)
            ctx.fail(f"sha256 mismatch for upload of {path}: expected {expected}, got {actual}")
        machine.move_file(temp, path)
        size = machine.file_size(path)
    ctx.output(json.dumps({"path": path, "size": size, "sha256": actual}, separators=(",", ":")))


def get_chunk(ctx: ScriptContext) -> None:
    """One base64 slice of a file and its size, or ``{"exists": false}``."""
    path = str(ctx.require("Path"))
    offset, length = int(ctx.require("Offset")), int(ctx.require("Length"))
    machine = ctx.machine
    with machine.lock:
        if not machine.has_file(path):
            ctx.output('{"exists":false}')
            return
        content = machine.read_file(path)
    data = base64.b64encode(content[offset : offset + length]).decode()
    ctx.output(json.dumps({"exists": True, "size": len(content), "data": data}, separators=(",", ":")))


def boot_time(ctx: ScriptContext) -> None:
    """LastBootUpTime in UTC, ``yyyy-MM-ddTHH:mm:ss.fffZ``."""
    stamp = ctx.machine.boot_time
    ctx.output(stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z")


def reboot(ctx: ScriptContext) -> None:
    """Register the SYSTEM task and let the endpoint restart after DelaySeconds."""
    delay = int(ctx.param("DelaySeconds", 5))
    if not 1 <= delay <= 600:
        ctx.fail(
            f"Cannot validate argument on parameter 'DelaySeconds'. The {delay} argument is out of range."
        )
    with ctx.machine.lock:
        ctx.machine.scheduled_tasks["hybridctl-reboot"] = {
            "user": "SYSTEM",
            "execute": "shutdown.exe",
            "delay": delay,
        }
        ctx.machine.task_last_run["hybridctl-reboot"] = utcnow()
    ctx.host.restart(delay)
    ctx.output(
        json.dumps(
            {"scheduled": True, "task": "hybridctl-reboot", "delaySeconds": delay}, separators=(",", ":")
        )
    )


def download(ctx: ScriptContext) -> None:
    """Skip when Path has the hash; else fetch Url (loopback only), verify, and move into place."""
    url, path = str(ctx.require("Url")), str(ctx.require("Path"))
    expected = str(ctx.require("Sha256")).lower()
    if ctx.machine.has_file(path) and hashlib.sha256(ctx.machine.read_file(path)).hexdigest() == expected:
        ctx.output(json.dumps({"changed": False, "path": path, "sha256": expected}, separators=(",", ":")))
        return
    data = _fetch(ctx, url, report=lambda done, total: _write_bytes(ctx, url, done, total))
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        ctx.fail(f"sha256 mismatch for {url}: expected {expected}, got {actual}")
    ctx.machine.write_file(path, data)
    ctx.output(json.dumps({"changed": True, "path": path, "sha256": actual}, separators=(",", ":")))


def _allowed(hostname: str | None) -> bool:
    if hostname in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(hostname or "") in LAB_NETWORK
    except ValueError:
        return False


def fetch_url(ctx: ScriptContext, url: str) -> bytes:
    """GET ``url`` for real (loopback or the lab network only); a failure is Invoke-WebRequest's error."""
    return _fetch(ctx, url)


def _write_bytes(ctx: ScriptContext, url: str, done: int, total: int | None) -> None:
    """node/download's Write-Bytes: ``Write-Progress -Status '<done> of <total> bytes'``."""
    percent = min(100, 100 * done // total) if total else -1
    of = "?" if total is None else str(total)
    ctx.progress(f"Downloading {url}", f"{done} of {of} bytes", percent)


def _fetch(ctx: ScriptContext, url: str, report: ByteReport | None = None) -> bytes:
    """GET ``url`` in 1 MiB reads; ``report`` hears the bytes every REPORT_SECONDS and once at the end."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not _allowed(parsed.hostname):
        ctx.fail(
            f"simulated host only downloads from loopback or lab URLs, not {url}",
            "WebCmdletWebResponseException",
        )
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response:
            return _read_reporting(ctx, response, report)
    except (urllib.error.URLError, OSError) as exc:
        what = 'Exception calling "GetResponse" with "0" argument(s)' if report else "Invoke-WebRequest"
        ctx.fail(f"{what}: {exc}", "WebException" if report else "WebCmdletWebResponseException")


def _read_reporting(ctx: ScriptContext, response: Any, report: ByteReport | None) -> bytes:
    length = response.headers.get("Content-Length")
    total = int(length) if length is not None and length.isdigit() else None
    data, last = bytearray(), time.monotonic()
    while chunk := response.read1(READ_BYTES):
        ctx.check_stopped()
        data += chunk
        if report is not None and time.monotonic() - last >= REPORT_SECONDS:
            report(len(data), total)
            last = time.monotonic()
    if report is not None:
        report(len(data), total)
    return bytes(data)


def _read(ctx: ScriptContext, path: str) -> bytes:
    try:
        return ctx.machine.read_file(path)
    except FileNotFoundError:
        ctx.fail(f"Cannot find path '{path}' because it does not exist.", "PathNotFound")
