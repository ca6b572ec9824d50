"""A real MIT Kerberos KDC on loopback for the WinRM Kerberos tests (Debian's krb5-kdc, krb5-admin-server).

Real: ``kdb5_util create``, ``kadmin.local addprinc``/``ktadd``, ``krb5kdc`` answering AS and TGS requests on
127.0.0.1, keytabs, credential caches. Nothing is emulated. Every KDC process is started by this module and
ended by its PID (``stop``); a KDC may run under libfaketime (``clock_offset``) to put its clock off.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

REALM = "HYBRIDCTL.TEST"
DOMAIN = "hybridctl.test"
FAKETIME_LIB = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
START_SECONDS = 10.0


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def client_config(port: int, *, timesync: bool = True) -> str:
    """A krb5.conf for clients and acceptors of the test realm; no DNS lookups, no reverse DNS."""
    return f"""[libdefaults]
    default_realm = {REALM}
    dns_lookup_kdc = false
    dns_lookup_realm = false
    dns_canonicalize_hostname = false
    rdns = false
    udp_preference_limit = 1
    kdc_timesync = {1 if timesync else 0}
    ignore_acceptor_hostname = false
[realms]
    {REALM} = {{
        kdc = 127.0.0.1:{port}
    }}
[domain_realm]
    .{DOMAIN} = {REALM}
    {DOMAIN} = {REALM}
"""


@dataclass
class Kdc:
    """A realm in ``directory``: its database, keytab, client krb5.conf and the running ``krb5kdc``."""

    directory: Path
    port: int = field(default_factory=free_port)
    clock_offset: str | None = None
    pid: int | None = None
    master_password: str = field(default_factory=lambda: secrets.token_urlsafe(16))

    @property
    def krb5_conf(self) -> Path:
        """The client/acceptor configuration (what ``KRB5_CONFIG`` points at)."""
        return self.directory / "krb5.conf"

    @property
    def keytab(self) -> Path:
        """The keytab of the service principals added with ``add_service``."""
        return self.directory / "http.keytab"

    @property
    def log(self) -> Path:
        """The KDC's log file."""
        return self.directory / "kdc.log"

    def env(self) -> dict[str, str]:
        """Environment for the MIT tools of this realm."""
        return {
            **os.environ,
            "KRB5_CONFIG": str(self.krb5_conf),
            "KRB5_KDC_PROFILE": str(self.directory / "kdc.conf"),
        }

    def create(self) -> Kdc:
        """Write the configuration and create the database (``kdb5_util create -s``)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.krb5_conf.write_text(client_config(self.port))
        (self.directory / "kdc.conf").write_text(self._kdc_conf())
        (self.directory / "kadm5.acl").write_text("")
        self._run("kdb5_util", "create", "-s", "-r", REALM, "-P", self.master_password)
        return self

    def add_user(self, name: str, password: str) -> str:
        """``kadmin.local addprinc -pw``; returns ``name@REALM``."""
        self._kadmin(f"addprinc -pw {password} {name}@{REALM}")
        return f"{name}@{REALM}"

    def add_service(self, principal: str) -> None:
        """``addprinc -randkey`` and ``ktadd`` into ``keytab`` (e.g. ``HTTP/win1.hybridctl.test``)."""
        self._kadmin(f"addprinc -randkey {principal}@{REALM}")
        self._kadmin(f"ktadd -k {self.keytab} {principal}@{REALM}")

    def start(self) -> Kdc:
        """Run ``krb5kdc -n`` (in the foreground, so its PID is the KDC) and wait until it listens."""
        env = self.env()
        if self.clock_offset is not None:
            env.update({"LD_PRELOAD": str(FAKETIME_LIB), "FAKETIME": self.clock_offset})
        with self.log.open("ab") as log:
            process = subprocess.Popen(
                ["krb5kdc", "-n", "-r", REALM, "-P", str(self.directory / "kdc.pid")],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid = process.pid
        self._wait_listening(process)
        return self

    def stop(self) -> None:
        """End the KDC by its PID and reap it."""
        pid, self.pid = self.pid, None
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)

    def kinit(self, principal: str, password: str, ccache: Path, lifetime: str = "1h") -> None:
        """``kinit -l LIFETIME`` into ``ccache`` (what a user does before running hybridctl)."""
        env = {**self.env(), "KRB5CCNAME": f"FILE:{ccache}"}
        subprocess.run(
            ["kinit", "-l", lifetime, principal], input=password + "\n", text=True, env=env, check=True
        )

    def _wait_listening(self, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"krb5kdc exited {process.returncode}: {self.log.read_text()[-2000:]}")
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"krb5kdc did not listen on {self.port} within {START_SECONDS}s")

    def _kadmin(self, query: str) -> None:
        self._run("kadmin.local", "-r", REALM, "-q", query)

    def _run(self, *argv: str) -> None:
        done = subprocess.run(argv, env=self.env(), capture_output=True, text=True, check=False)
        if done.returncode != 0 or "error" in done.stderr.lower():
            raise RuntimeError(f"{' '.join(argv[:2])} failed: {done.stderr.strip()}")

    def _kdc_conf(self) -> str:
        d = self.directory
        return f"""[kdcdefaults]
    kdc_listen = 127.0.0.1:{self.port}
    kdc_tcp_listen = 127.0.0.1:{self.port}
[realms]
    {REALM} = {{
        database_name = {d}/principal
        key_stash_file = {d}/stash
        acl_file = {d}/kadm5.acl
        max_life = 10h
        default_principal_flags = +preauth
        supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
    }}
[logging]
    kdc = FILE:{self.log}
"""
