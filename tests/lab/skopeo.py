"""Run skopeo (the Go reference, containers/image 5.23) hermetically, with timeouts.

Every run gets a throwaway HOME / XDG dirs (so no user config, auth file or blob-info cache
leaks in or out); as root it also sets ``_CONTAINERS_ROOTLESS_UID=65534`` so containers/image
keeps its state there. ``--registries-conf`` is a hidden global flag in skopeo 1.9.3 (it works;
it is not in ``--help``); ``--registries.d`` is the visible one.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "SKOPEO_BINARY",
    "SkopeoError",
    "skopeo_env",
    "run_skopeo",
    "skopeo_inspect_raw",
    "skopeo_inspect",
    "skopeo_list_tags",
    "skopeo_copy",
    "skopeo_manifest_digest",
]

SKOPEO_BINARY = os.environ.get("LAB_SKOPEO_BINARY", "skopeo")


class SkopeoError(RuntimeError):
    """skopeo exited non-zero; carries its stderr."""

    def __init__(self, args: Sequence[str], returncode: int, stderr: str) -> None:
        super().__init__(f"skopeo {' '.join(args)} failed ({returncode}):\n{stderr.strip()}")
        self.args_used = list(args)
        self.returncode = returncode
        self.stderr = stderr


def skopeo_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A minimal environment rooted in ``home``."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_RUNTIME_DIR": str(home / "run"),
        "REGISTRY_AUTH_FILE": str(home / "auth.json"),
        "TMPDIR": str(home / "tmp"),
    }
    for key in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_RUNTIME_DIR", "TMPDIR"):
        Path(env[key]).mkdir(mode=0o700, parents=True, exist_ok=True)
    if os.geteuid() == 0:
        env["_CONTAINERS_ROOTLESS_UID"] = "65534"
    env.update(extra or {})
    return env


def run_skopeo(
    args: Sequence[str],
    *,
    registries_conf: Path | None = None,
    registries_d: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 30.0,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """``skopeo [globals] ARGS`` in a fresh home; raises `SkopeoError` on failure if ``check``."""
    argv: list[str] = [SKOPEO_BINARY]
    if registries_conf is not None:
        argv += ["--registries-conf", str(registries_conf)]
    if registries_d is not None:
        argv += ["--registries.d", str(registries_d)]
    argv += list(args)
    with tempfile.TemporaryDirectory(prefix="lab-skopeo-") as home:
        proc = subprocess.run(
            argv,
            env=skopeo_env(Path(home), env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    if check and proc.returncode != 0:
        raise SkopeoError(argv[1:], proc.returncode, proc.stderr.decode(errors="replace"))
    return proc


def _access_args(
    prefix: str,
    *,
    tls_verify: bool,
    creds: tuple[str, str] | None,
    cert_dir: Path | None,
    no_creds: bool = False,
) -> list[str]:
    out = [f"--{prefix}tls-verify={'true' if tls_verify else 'false'}"]
    if creds is not None:
        out += [f"--{prefix}creds", f"{creds[0]}:{creds[1]}"]
    elif no_creds:
        out.append(f"--{prefix}no-creds")
    if cert_dir is not None:
        out += [f"--{prefix}cert-dir", str(cert_dir)]
    return out


def _docker_ref(ref: str) -> str:
    """Add ``docker://`` unless ``ref`` already names a transport."""
    transports = ("docker://", "dir:", "oci:", "oci-archive:", "docker-archive:")
    return ref if ref.startswith(transports) else f"docker://{ref}"


def skopeo_inspect_raw(
    ref: str,
    *,
    tls_verify: bool,
    creds: tuple[str, str] | None = None,
    cert_dir: Path | None = None,
    registries_conf: Path | None = None,
    authfile: Path | None = None,
    config: bool = False,
    extra_args: Sequence[str] = (),
    timeout: float = 30.0,
) -> bytes:
    """``skopeo inspect --raw`` (or ``--config --raw``): the exact stdout bytes.

    ``ref`` may omit ``docker://``.
    """
    args = ["inspect", "--raw", *(["--config"] if config else [])]
    args += _access_args("", tls_verify=tls_verify, creds=creds, cert_dir=cert_dir)
    if authfile is not None:
        args += ["--authfile", str(authfile)]
    args += [*extra_args, _docker_ref(ref)]
    return run_skopeo(args, registries_conf=registries_conf, timeout=timeout).stdout


def skopeo_inspect(
    ref: str,
    *,
    tls_verify: bool,
    creds: tuple[str, str] | None = None,
    cert_dir: Path | None = None,
    registries_conf: Path | None = None,
    authfile: Path | None = None,
    extra_args: Sequence[str] = (),
    timeout: float = 30.0,
) -> dict[str, Any]:
    """``skopeo inspect`` parsed (Digest, Tags, Architecture, Layers...)."""
    args = ["inspect"]
    args += _access_args("", tls_verify=tls_verify, creds=creds, cert_dir=cert_dir)
    if authfile is not None:
        args += ["--authfile", str(authfile)]
    args += [*extra_args, _docker_ref(ref)]
    out = run_skopeo(args, registries_conf=registries_conf, timeout=timeout).stdout
    doc = json.loads(out)
    assert isinstance(doc, dict)
    return doc


def skopeo_list_tags(
    repository: str,
    *,
    tls_verify: bool,
    creds: tuple[str, str] | None = None,
    cert_dir: Path | None = None,
    timeout: float = 30.0,
) -> bytes:
    """``skopeo list-tags docker://REPOSITORY``: the exact stdout bytes."""
    args = ["list-tags"]
    args += _access_args("", tls_verify=tls_verify, creds=creds, cert_dir=cert_dir)
    args.append(_docker_ref(repository))
    return run_skopeo(args, timeout=timeout).stdout


def skopeo_copy(
    src: str,
    dest: str,
    *,
    src_tls_verify: bool = True,
    src_creds: tuple[str, str] | None = None,
    src_cert_dir: Path | None = None,
    dest_tls_verify: bool = True,
    dest_creds: tuple[str, str] | None = None,
    dest_cert_dir: Path | None = None,
    extra_args: Sequence[str] = (),
    registries_conf: Path | None = None,
    registries_d: Path | None = None,
    policy: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> None:
    """``skopeo copy`` between any two transports (full refs given).

    Without ``policy`` it runs with ``--insecure-policy``; with one (see
    `tests.lab.signing.write_policy`) signatures are verified as the policy says.
    """
    globals_ = ["--policy", str(policy)] if policy is not None else ["--insecure-policy"]
    args = [*globals_, "copy", "--quiet"]
    if src.startswith("docker://"):
        args += _access_args(
            "src-", tls_verify=src_tls_verify, creds=src_creds, cert_dir=src_cert_dir
        )
    if dest.startswith("docker://"):
        args += _access_args(
            "dest-", tls_verify=dest_tls_verify, creds=dest_creds, cert_dir=dest_cert_dir
        )
    args += [*extra_args, src, dest]
    run_skopeo(
        args,
        registries_conf=registries_conf,
        registries_d=registries_d,
        env=env,
        timeout=timeout,
    )


def skopeo_manifest_digest(manifest: bytes, *, timeout: float = 30.0) -> str:
    """``skopeo manifest-digest`` of some bytes (the Go digest, schema1 JWS stripping incl.)."""
    with tempfile.NamedTemporaryFile(prefix="lab-manifest-", suffix=".json") as f:
        f.write(manifest)
        f.flush()
        return run_skopeo(["manifest-digest", f.name], timeout=timeout).stdout.decode().strip()
