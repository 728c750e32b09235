"""Lookaside (sigstore-style "simple signing") signatures made by the real skopeo + GPG.

`GpgKey` makes a throwaway no-passphrase key in a temp ``GNUPGHOME``; `Lookaside` holds a
staging folder, serves it over http on loopback and writes the registries.d YAML that points
skopeo (and our client) at it; `sign_image` re-copies an image onto itself with ``--sign-by`` so
``SIGDIR/<repo>@sha256=<hex>/signature-N`` appears (a second key adds signature-2).
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import tempfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

import yaml

from tests.lab.images import PushedImage
from tests.lab.registry import LabError, RegistryServer, require_binary
from tests.lab.serving import BackgroundHTTPServer, Service
from tests.lab.skopeo import skopeo_copy

__all__ = ["GpgKey", "Lookaside", "sign_image", "signature_paths", "write_policy"]


class GpgKey(Service):
    """A throwaway GPG signing key (``algo`` as gpg's --quick-gen-key takes it)."""

    def __init__(
        self,
        uid: str = "Lab Signer <lab@example.invalid>",
        *,
        algo: str = "ed25519",
        usage: str = "sign",
    ) -> None:
        self.uid = uid
        self.algo = algo
        self.usage = usage  # gpg's --quick-gen-key usage: "sign", or "default" to encrypt too
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.home = Path()
        self.fingerprint = ""

    @property
    def public_key_path(self) -> Path:
        """Armored public key (for a policy.json ``signedBy`` ``keyPath``)."""
        return self.home / "public.asc"

    def _gpg(self, *args: str, timeout: float = 60.0) -> bytes:
        proc = subprocess.run(
            [require_binary("gpg"), "--batch", "--pinentry-mode", "loopback", *args],
            env={**os.environ, "GNUPGHOME": str(self.home)},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0:
            raise LabError(f"gpg {' '.join(args)} failed: {proc.stderr.decode(errors='replace')}")
        return proc.stdout

    def start(self) -> Self:
        self._tmp = tempfile.TemporaryDirectory(prefix="lab-gnupg-")
        self.home = Path(self._tmp.name)
        self.home.chmod(0o700)
        self._gpg("--passphrase", "", "--quick-gen-key", self.uid, self.algo, self.usage, "never")
        for line in self._gpg("--list-secret-keys", "--with-colons").decode().splitlines():
            if line.startswith("fpr:"):
                self.fingerprint = line.split(":")[9]
                break
        self.public_key_path.write_bytes(self._gpg("--armor", "--export", self.fingerprint))
        return self

    def stop(self) -> None:
        if self._tmp is None:
            return
        subprocess.run(
            ["gpgconf", "--kill", "all"],
            env={**os.environ, "GNUPGHOME": str(self.home)},
            capture_output=True,
            timeout=10,
            check=False,
        )
        self._tmp.cleanup()
        self._tmp = None


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class Lookaside(Service):
    """A signature staging folder served over http, and the registries.d folder using it."""

    def __init__(self, registry_host: str) -> None:
        self.registry_host = registry_host
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.root = Path()
        self._server: BackgroundHTTPServer[ThreadingHTTPServer] | None = None
        self.port = 0

    @property
    def sigdir(self) -> Path:
        return self.root / "sigstore"

    @property
    def registries_d(self) -> Path:
        return self.root / "registries.d"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        self._tmp = tempfile.TemporaryDirectory(prefix="lab-lookaside-")
        self.root = Path(self._tmp.name)
        self.sigdir.mkdir()
        handler = functools.partial(_QuietHandler, directory=str(self.sigdir))
        background = BackgroundHTTPServer(ThreadingHTTPServer, handler)
        self.port = background.port
        self._server = background.start()
        self.registries_d.mkdir()
        doc = {
            "docker": {
                self.registry_host: {
                    "lookaside": self.url,
                    "lookaside-staging": self.sigdir.as_uri(),
                }
            }
        }
        (self.registries_d / "lab.yaml").write_text(yaml.safe_dump(doc))
        return self

    def stop(self) -> None:
        background, self._server = self._server, None
        if background is not None:
            background.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def signature_paths(lookaside: Lookaside, repo: str, digest: str) -> list[Path]:
    """The ``signature-N`` files stored for ``repo@digest``, in order."""
    folder = lookaside.sigdir / f"{repo}@{digest.replace(':', '=', 1)}"
    out: list[Path] = []
    while (folder / f"signature-{len(out) + 1}").is_file():
        out.append(folder / f"signature-{len(out) + 1}")
    return out


def sign_image(
    reg: RegistryServer,
    image: PushedImage,
    key: GpgKey,
    lookaside: Lookaside,
    *,
    creds: tuple[str, str] | None = None,
    timeout: float = 60.0,
) -> list[Path]:
    """Sign ``image`` in place (``--all`` for lists); returns its top-level signature files."""
    ref = f"docker://{image.ref(reg.host)}"
    use_creds = creds if creds is not None else reg.creds
    skopeo_copy(
        ref,
        ref,
        src_tls_verify=reg.tls_verify,
        src_creds=use_creds,
        src_cert_dir=reg.cert_dir,
        dest_tls_verify=reg.tls_verify,
        dest_creds=use_creds,
        dest_cert_dir=reg.cert_dir,
        extra_args=["--preserve-digests", "--sign-by", key.fingerprint]
        + (["--all"] if image.is_list else []),
        registries_d=lookaside.registries_d,
        env={"GNUPGHOME": str(key.home)},
        timeout=timeout,
    )
    return signature_paths(lookaside, image.repo, image.digest)


def write_policy(path: Path, registry_host: str, *keys: GpgKey) -> Path:
    """A policy.json requiring a signature by any of ``keys`` for images on the registry
    (every other source, e.g. ``dir:``, is accepted)."""
    requirements = [
        {"type": "signedBy", "keyType": "GPGKeys", "keyPath": str(k.public_key_path)} for k in keys
    ]
    doc = {
        "default": [{"type": "insecureAcceptAnything"}],
        "transports": {"docker": {registry_host: requirements}},
    }
    path.write_text(json.dumps(doc, indent=2))
    return path
