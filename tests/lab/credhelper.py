"""A real credential helper for the tests: ``docker-credential-pass`` over a throwaway store.

`PassStore` makes a no-passphrase GPG key (`GpgKey`) and a ``pass`` store in temp folders;
:meth:`PassStore.store` saves credentials for a server through the helper's own ``store``
command, and :attr:`PassStore.env` is the environment a client needs to find them
(``GNUPGHOME``, ``PASSWORD_STORE_DIR``). Nothing is written outside the temp folders.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Self

from tests.lab.registry import LabError, require_binary
from tests.lab.serving import Service
from tests.lab.signing import GpgKey

__all__ = ["PassStore"]


class PassStore(Service):
    """A ``pass`` password store that ``docker-credential-pass`` reads and writes."""

    def __init__(self) -> None:
        self._key = GpgKey("Lab Pass <pass@example.invalid>", algo="default", usage="default")
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.store_dir = Path()

    @property
    def env(self) -> dict[str, str]:
        """What a process needs in its environment to use this store."""
        return {"GNUPGHOME": str(self._key.home), "PASSWORD_STORE_DIR": str(self.store_dir)}

    def _run(self, argv: list[str], stdin: bytes = b"") -> bytes:
        proc = subprocess.run(
            argv,
            input=stdin,
            env={**os.environ, **self.env},
            capture_output=True,
            timeout=60,
            check=False,
        )
        if proc.returncode != 0:
            out = (proc.stdout + proc.stderr).decode(errors="replace")
            raise LabError(f"{' '.join(argv)} failed: {out}")
        return proc.stdout

    def start(self) -> Self:
        self._key.start()
        self._tmp = tempfile.TemporaryDirectory(prefix="lab-pass-")
        self.store_dir = Path(self._tmp.name)
        self._run([require_binary("pass"), "init", self._key.fingerprint])
        return self

    def store(self, server: str, username: str, secret: str) -> None:
        """Save credentials for ``server`` with ``docker-credential-pass store``."""
        entry = {"ServerURL": server, "Username": username, "Secret": secret}
        self._run([require_binary("docker-credential-pass"), "store"], json.dumps(entry).encode())

    def get(self, server: str) -> dict[str, str]:
        """What ``docker-credential-pass get`` prints for ``server``."""
        out = self._run([require_binary("docker-credential-pass"), "get"], server.encode())
        result: dict[str, str] = json.loads(out)
        return result

    def stop(self) -> None:
        self._key.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
