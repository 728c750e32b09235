"""Manifest fetching: sansio-registry against its peers, side by side in one run.

Run by hand (never in tests): ``.venv/bin/python -m benchmarks.manifests [--rounds N]``.
It starts throwaway registries from the test lab (plain HTTP, and bearer-token auth with the
lab's issuer), then prints medians and ratios for:

1. one-shot processes: ``sansio-registry inspect --raw`` vs ``skopeo inspect --raw``;
2. a batch of manifest GETs in one process: our library (sequential, and 20 at a time) vs
   python-dxf and oras-py (both on requests with keep-alive) vs curl (one process, one
   keep-alive connection: the loopback/registry floor);
3. the core alone (no IO): ``get_manifest`` driven by ``run_sync`` against ``FakeNetwork``, with
   a mirror miss and a token dance, per operation.

Peers: ``pip install oras python-dxf`` into the venv (not test dependencies); a missing peer
is reported and skipped.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

from sansio_registry.auth import Credentials
from sansio_registry.config.registries_conf import merge_registries_conf, parse_registries_conf
from sansio_registry.flows.manifest import get_manifest
from sansio_registry.media_types import MANIFEST_ACCEPT
from sansio_registry.reference import ImageRef
from sansio_registry.session import ClientConfig, RegistryState
from sansio_registry.testing import run_sync
from sansio_registry.testing.fake import FakeNetwork, FakeRegistry, FakeTokenServer
from tests.lab.images import PushedImage
from tests.lab.labs import Lab, plain_lab, token_lab
from tests.lab.skopeo import skopeo_env

BATCH = 200


def median_time(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


# Users' Pythons cache bytecode; this workplace sets PYTHONDONTWRITEBYTECODE, which would make
# every one-shot run recompile our modules. Measure what a user gets.
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run(cmd: list[str], env: dict[str, str] | None = None) -> None:
    subprocess.run(cmd, check=True, capture_output=True, timeout=60, env=env or _ENV)


def target(lab: Lab) -> tuple[PushedImage, tuple[str, str] | None]:
    """The image to fetch and the credentials to use.

    On the token lab: the anonymously pullable image, so that every peer can take part
    (python-dxf refuses to send credentials over plain HTTP); the token dance still happens.
    """
    if lab.public is not None:
        return lab.public, None
    return lab.images.oci, lab.creds


def one_shot(lab: Lab, rounds: int) -> dict[str, float]:
    image, login = target(lab)
    ref = lab.ref(image)
    creds = [f"--creds={login[0]}:{login[1]}"] if login else []
    ours = [sys.executable, "-m", "trio_backend", "inspect", "--raw", "--tls-verify=false", *creds]
    theirs = ["skopeo", "inspect", "--raw", "--tls-verify=false", *creds]
    env = skopeo_env(Path(tempfile.mkdtemp(prefix="bench-skopeo-")))
    out = {
        "sansio-registry CLI": median_time(lambda: run([*ours, f"docker://{ref}"]), rounds),
        "skopeo": median_time(lambda: run([*theirs, f"docker://{ref}"], env), rounds),
        "python -c pass (start-up floor)": median_time(
            lambda: run([sys.executable, "-c", "pass"]), rounds
        ),
    }
    return out


async def _ours_batch(lab: Lab, concurrency: int) -> None:
    from trio_backend import open_client

    image, login = target(lab)
    creds = Credentials(username=login[0], password=login[1]) if login else None
    config = ClientConfig(tls_verify=False, credentials=creds)
    ref = ImageRef.parse(lab.ref(image))
    async with open_client(config) as client:
        limiter = trio.Semaphore(concurrency)

        async def one() -> None:
            async with limiter:
                await client.get_manifest(ref)

        async with trio.open_nursery() as nursery:
            for _ in range(BATCH):
                nursery.start_soon(one)


def batch(lab: Lab, rounds: int) -> dict[str, float]:
    image, login = target(lab)
    out: dict[str, float] = {
        "sansio-registry library, sequential": median_time(
            lambda: trio.run(_ours_batch, lab, 1), rounds
        ),
        "sansio-registry library, 20 at a time": median_time(
            lambda: trio.run(_ours_batch, lab, 20), rounds
        ),
    }
    try:
        import dxf

        def dxf_batch() -> None:
            def auth(client: Any, response: Any) -> None:
                if login:
                    client.authenticate(login[0], login[1], response=response)
                else:
                    client.authenticate(response=response)

            client = dxf.DXF(lab.host, image.repo, auth, insecure=True)
            for _ in range(BATCH):
                client.get_manifest_and_response(image.tag)

        try:
            out["python-dxf"] = median_time(dxf_batch, rounds)
        except dxf.exceptions.DXFAuthInsecureError:
            print("python-dxf refuses token auth over plain HTTP: skipped", file=sys.stderr)
    except ImportError:
        print("python-dxf not installed: skipped", file=sys.stderr)
    try:
        import oras.provider

        def oras_batch() -> None:
            registry = oras.provider.Registry(insecure=True)
            if login:
                registry.set_basic_auth(login[0], login[1])
            for _ in range(BATCH):
                registry.get_manifest(f"{lab.host}/{image.repo}:{image.tag}")

        out["oras-py"] = median_time(oras_batch, rounds)
    except ImportError:
        print("oras not installed: skipped", file=sys.stderr)
    if shutil.which("curl") and lab.issuer is None:
        url = f"{lab.url}/v2/{image.repo}/manifests/{image.tag}"
        accept = [arg for mt in MANIFEST_ACCEPT for arg in ("-H", f"Accept: {mt}")]
        cmd = ["curl", "-s", "-o", "/dev/null", *accept, *([url] * BATCH)]
        out["curl, one keep-alive connection (floor)"] = median_time(lambda: run(cmd), rounds)
    return out


def core_only(rounds: int) -> dict[str, float]:
    """Per-operation cost of the pure core, no IO: mirror miss + token dance + manifest."""
    manifest = json.dumps({"schemaVersion": 2, "layers": [], "config": {}}).encode()
    conf = b'[[registry]]\nprefix = "p.test"\nlocation = "p.test"\n'
    conf += b'[[registry.mirror]]\nlocation = "m.test"\n'
    registries = merge_registries_conf([parse_registries_conf(conf, path="bench.conf")])
    ref = ImageRef.parse("p.test/ns/app:v1")
    n = 2000

    def ops() -> None:
        network = FakeNetwork()
        issuer = FakeTokenServer()
        registry = FakeRegistry(
            auth="bearer", realm="https://auth.test/token", token_server=issuer
        )
        registry.put_manifest(
            "ns/app", "v1", manifest, "application/vnd.oci.image.manifest.v1+json"
        )
        network.add("auth.test", issuer)
        network.add("m.test", FakeRegistry())
        network.add("p.test", registry)
        config = ClientConfig(registries=registries)
        for _ in range(n):
            run_sync(get_manifest(ref, config=config, state=RegistryState()), network)

    return {
        "core get_manifest (mirror miss + ping + token + manifest), per op": median_time(
            ops, rounds
        )
        / n
    }


def table(title: str, results: dict[str, float], base: str, unit: str = "s") -> None:
    print(f"\n{title}")
    ref = results.get(base)
    for name, value in results.items():
        ratio = f"{value / ref:6.2f}x {base}" if ref else ""
        shown = f"{value * 1e6:9.1f} µs" if unit == "us" else f"{value:9.4f} s"
        print(f"  {name:48} {shown}   {ratio}")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.manifests")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    for package in ("sansio_registry", "trio_backend"):
        compileall.compile_dir(Path(__file__).resolve().parents[1] / package, quiet=1)
    with plain_lab(schema1=False) as plain, token_lab() as token:
        table("one-shot process, plain HTTP (median wall)", one_shot(plain, args.rounds), "skopeo")
        table(
            "one-shot process, bearer token (median wall)", one_shot(token, args.rounds), "skopeo"
        )
        table(
            f"{BATCH} manifest GETs in one process, plain HTTP",
            batch(plain, args.rounds),
            "sansio-registry library, sequential",
        )
        table(
            f"{BATCH} manifest GETs in one process, bearer token",
            batch(token, args.rounds),
            "sansio-registry library, sequential",
        )
    table("core only, no IO", core_only(3), "", unit="us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
