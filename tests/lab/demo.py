"""``make demo``: start throwaway registries with sample images and run the CLI against them.

Starts a plain-HTTP registry, a bearer-token registry (with the lab's token issuer) and a TLS
registry (trustme CA), pushes the sample images, then runs ``sansio-registry``'s main jobs —
``inspect --raw`` of every image compared byte for byte with ``skopeo inspect --raw``, a
platform-resolved summary of a multi-platform image, several references at once, and an error
— and stops everything again. ``--serve`` keeps the registries running until Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.lab.images import schema1_digest, sha256_digest
from tests.lab.labs import Lab, plain_lab, tls_lab, token_lab
from tests.lab.registry import LabError
from tests.lab.skopeo import run_skopeo

__all__ = ["cli_args", "main"]

CLI = [sys.executable, "-m", "trio_backend"]


def cli_args(lab: Lab) -> list[str]:
    """The inspect flags that reach ``lab``."""
    args = [f"--tls-verify={str(lab.tls_verify).lower()}"]
    if lab.creds:
        args += ["--creds", f"{lab.creds[0]}:{lab.creds[1]}"]
    if lab.cert_dir:
        args += ["--cert-dir", str(lab.cert_dir)]
    return args


def run_cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    """Run our CLI (bounded), echoing the command line."""
    print(f"$ sansio-registry {shlex.join(args)}")
    return subprocess.run([*CLI, *args], capture_output=True, timeout=60, check=False)


def show_lab(lab: Lab) -> bool:
    """``inspect --raw`` every seeded image with our CLI and with skopeo; True if all agree."""
    ok = True
    print(f"\n== {lab.name} registry at {lab.url}")
    for image in lab.images.all():
        ref = lab.ref(image)
        t0 = time.perf_counter()
        ours = subprocess.run(
            [*CLI, "inspect", "--raw", *cli_args(lab), f"docker://{ref}"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        ms = (time.perf_counter() - t0) * 1000
        if ours.returncode != 0:
            print(f"  {ref:42} FAILED: {ours.stderr.decode().strip()}")
            ok = False
            continue
        theirs = lab.inspect_raw(image)
        if image.repo == "ns/s1":  # the registry re-signs schema1 on every read: compare digests
            same = schema1_digest(ours.stdout) == schema1_digest(theirs) == image.digest
        else:
            same = ours.stdout == theirs and sha256_digest(ours.stdout) == image.digest
        ok = ok and same
        kind = image.media_type.rsplit("/", 1)[-1]
        verdict = "same as skopeo" if same else "DIFFERENT from skopeo"
        print(f"  {ref:42} {kind:46} {len(ours.stdout):5} B  {verdict}  ({ms:.0f} ms)")
    if lab.issuer is not None:
        print(f"  token issuer {lab.issuer.realm}: {lab.issuer.count()} token requests so far")
    return ok


def show_jobs(lab: Lab) -> bool:
    """The CLI's other main jobs against one registry."""
    print(f"\n== the CLI's main jobs against {lab.url}")
    multi = lab.ref(lab.images.multi)
    done = run_cli("--override-arch", "arm64", "inspect", *cli_args(lab), multi)
    summary = json.loads(done.stdout) if done.returncode == 0 else {}
    print(
        f"  arm64 instance of a multi-platform image: Architecture={summary.get('Architecture')}"
        f" Layers={summary.get('Layers')}"
    )
    refs = [lab.ref(lab.images.app), lab.ref(lab.images.oci), multi]
    many = run_cli("inspect", "--no-tags", *cli_args(lab), *refs)
    names = [item["Name"] for item in json.loads(many.stdout)] if many.returncode == 0 else []
    print(f"  three references at once, in order: {names}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "manifest.json"
        path.write_bytes(lab.inspect_raw(lab.images.app))
        digest = run_cli("manifest-digest", str(path))
        print(f"  manifest-digest: {digest.stdout.decode().strip()}")
        target = Path(tmp) / "app-dir"
        pulled = run_cli("pull", "-q", *cli_args(lab), lab.ref(lab.images.oci), str(target))
        files = sorted(p.name for p in target.iterdir()) if pulled.returncode == 0 else []
        shown = ", ".join(name[:12] for name in files)
        print(f"  pull into a dir: layout: {len(files)} files ({shown})")
        check = run_skopeo(["inspect", f"dir:{target}"], check=False)
        print(f"  skopeo inspect dir: of our pull: exit {check.returncode}")
        plan = run_cli("delete", "--dry-run", *cli_args(lab), lab.ref(lab.images.app))
        print("  delete --dry-run: " + " | ".join(plan.stdout.decode().strip().splitlines()))
    missing = run_cli("inspect", *cli_args(lab), lab.ref("ns/app:no-such-tag"))
    print(f"  an error is one line, exit {missing.returncode}: {missing.stderr.decode().strip()}")
    return (
        summary.get("Architecture") == "arm64"
        and len(names) == 3
        and digest.stdout.decode().strip() == lab.images.app.digest
        and pulled.returncode == 0
        and check.returncode == 0
        and plan.returncode == 0
        and missing.returncode == 1
    )


def main(argv: list[str] | None = None) -> int:
    """Run the demo; exit 0 when every check agreed."""
    parser = argparse.ArgumentParser(prog="python -m tests.lab.demo")
    parser.add_argument("--serve", action="store_true", help="keep the lab running until Ctrl-C")
    args = parser.parse_args(argv)
    try:
        with contextlib.ExitStack() as stack:
            t0 = time.perf_counter()
            labs = [stack.enter_context(cm) for cm in (plain_lab(), token_lab(), tls_lab())]
            print(f"started and seeded 3 registries in {time.perf_counter() - t0:.2f} s")
            ok = all([show_lab(lab) for lab in labs])
            ok = show_jobs(labs[0]) and ok
            if args.serve:
                for lab in labs:
                    print(
                        f"sansio-registry inspect {shlex.join(cli_args(lab))} "
                        f"docker://{lab.ref(lab.images.app)}"
                    )
                print("serving; Ctrl-C to stop")
                with contextlib.suppress(KeyboardInterrupt):
                    while True:
                        time.sleep(3600)
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("\ndemo finished: " + ("everything agreed" if ok else "SOMETHING DIFFERED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
