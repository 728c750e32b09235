"""A real HTTP proxy for the tests: Debian's squid, on a free loopback port with its own config.

Its ``hosts_file`` maps the test host names (``registry.test`` …) to 127.0.0.1, so only the
proxy can resolve them: a client that bypasses the proxy reaches nothing. Nothing is cached.
``users`` turns on Basic proxy authentication (``basic_ncsa_auth`` over an apr1 htpasswd
file); ``deny`` names hosts the proxy refuses. :meth:`SquidProxy.access_log` returns what it
served, one entry per request, as squid logged it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from tests.lab.registry import LabError, free_port, require_binary
from tests.lab.serving import LoopbackService

__all__ = ["LoggedRequest", "SquidProxy"]

NCSA_AUTH = "/usr/lib/squid/basic_ncsa_auth"


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """One line of squid's native access log: ``TCP_TUNNEL/200 CONNECT registry.test:5000``."""

    result: str  # e.g. "TCP_TUNNEL/200", "TCP_MISS/200", "TCP_DENIED/403"
    method: str
    url: str
    user: str


def _apr1(password: str) -> str:
    out = subprocess.run(
        ["openssl", "passwd", "-apr1", password], check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


class SquidProxy(LoopbackService):
    """``squid -N -f CONF`` on ``127.0.0.1:<free port>``; stopped by its PID on exit."""

    def __init__(
        self,
        *,
        hosts: Sequence[str] = ("registry.test",),
        users: Mapping[str, str] | None = None,
        deny: Sequence[str] = (),
        start_timeout: float = 15.0,
    ) -> None:
        self.hosts = tuple(hosts)
        self.users = dict(users or {})
        self.deny = tuple(deny)
        self.start_timeout = start_timeout
        self.port = 0
        self._dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def _config(self, workdir: Path) -> str:
        lines = [
            f"http_port 127.0.0.1:{self.port}",
            f"hosts_file {workdir / 'hosts'}",
            "dns_nameservers 127.0.0.1",
            "acl localnet src 127.0.0.1/32",
            "acl SSL_ports port 1-65535",
            "acl CONNECT method CONNECT",
        ]
        if self.deny:
            lines.append("acl refused dstdomain " + " ".join(self.deny))
            lines.append("http_access deny refused")
        if self.users:
            lines += [
                f"auth_param basic program {NCSA_AUTH} {workdir / 'passwd'}",
                "auth_param basic realm lab-proxy",
                "acl authenticated proxy_auth REQUIRED",
                "http_access deny !authenticated",
            ]
        lines += [
            "http_access allow localnet",
            "http_access deny all",
            "cache deny all",
            "cache_dir null /tmp",
            f"access_log stdio:{workdir / 'access.log'}",
            f"cache_log {workdir / 'cache.log'}",
            f"pid_filename {workdir / 'squid.pid'}",
            f"coredump_dir {workdir}",
            "cache_effective_user proxy",
            "shutdown_lifetime 1 seconds",
            "forwarded_for delete",
            "via off",
        ]
        return "\n".join(lines) + "\n"

    def start(self) -> Self:
        binary = shutil.which("squid") or shutil.which("squid", path="/usr/sbin:/sbin")
        if binary is None:
            require_binary("squid")  # raises with the install hint
            raise AssertionError("unreachable")
        self._dir = Path(tempfile.mkdtemp(prefix="lab-squid-"))
        self.port = free_port()
        (self._dir / "hosts").write_text("".join(f"127.0.0.1 {h}\n" for h in self.hosts))
        if self.users:
            entries = "".join(f"{u}:{_apr1(p)}\n" for u, p in self.users.items())
            (self._dir / "passwd").write_text(entries)
        conf = self._dir / "squid.conf"
        conf.write_text(self._config(self._dir))
        shutil.chown(self._dir, user="proxy")
        for child in self._dir.iterdir():
            shutil.chown(child, user="proxy")
        self._process = subprocess.Popen(
            [binary, "-N", "-f", str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        log = self.cache_log()
        self.stop()
        raise LabError(f"squid did not start on port {self.port}: {log[-2000:]}")

    def cache_log(self) -> str:
        path = self._dir / "cache.log" if self._dir else None
        return path.read_text(errors="replace") if path and path.exists() else ""

    def access_log(self) -> list[LoggedRequest]:
        """Every request squid logged so far (it writes each when the request ends)."""
        path = self._dir / "access.log" if self._dir else None
        if path is None or not path.exists():
            return []
        entries = []
        for line in path.read_text(errors="replace").splitlines():
            fields = line.split()
            if len(fields) >= 8 and fields[5] != "-":  # "-": a connection with no request
                entries.append(LoggedRequest(fields[3], fields[5], fields[6], fields[7]))
        return entries

    def wait_for_log(self, count: int, timeout: float = 5.0) -> list[LoggedRequest]:
        """The access log once it holds at least ``count`` entries (bounded wait)."""
        deadline = time.monotonic() + timeout
        while True:
            entries = self.access_log()
            if len(entries) >= count or time.monotonic() > deadline:
                return entries
            time.sleep(0.05)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
            except ProcessLookupError:
                pass
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
