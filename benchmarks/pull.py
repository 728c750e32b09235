"""Pulling a 64 MiB image into a directory: sansio-registry against skopeo and the floor.

Run by hand (never in tests): ``.venv/bin/python -m benchmarks.pull [--rounds N] [--mib M]``.
It starts a throwaway plain-HTTP lab registry, pushes one single-layer image of random
(incompressible) bytes, then times whole processes side by side, N rounds in rotating order
(after one unmeasured warm-up round), and prints medians:

1. ``sansio-registry pull -q --tls-verify=false REF DIR`` (bytecode precompiled, and
   ``PYTHONDONTWRITEBYTECODE`` removed from its environment: what a user gets);
2. ``skopeo copy docker://REF dir:DIR`` (containers/image, the reference);
3. the floor: ``curl -s -o /dev/null <blob URL>`` (the loopback/registry limit) plus
   ``openssl dgst -sha256 <blob file>`` (the hashing limit; hashlib uses OpenSSL too);
4. for reading (1): ``python -c "import trio_backend.cli"``, our fixed start-up cost.

Each process's peak RSS comes from ``/usr/bin/time -f %M`` when it exists, else from
``getrusage(RUSAGE_CHILDREN)`` (a running maximum, so only a rising figure is exact).
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.lab.images import PushedImage, push_schema2_image, random_layer
from tests.lab.registry import RegistryServer
from tests.lab.skopeo import skopeo_env

ROOT = Path(__file__).resolve().parents[1]
TIME_BINARY = "/usr/bin/time"
# Users' Pythons cache bytecode; this workplace sets PYTHONDONTWRITEBYTECODE, which would make
# every one-shot run recompile our modules. Measure what a user gets.
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


@dataclass(slots=True)
class Samples:
    """Wall times (s) and peak RSS (KiB) of one contender's runs."""

    wall: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)
    stdout: str = ""

    @property
    def median_wall(self) -> float:
        return statistics.median(self.wall)

    @property
    def median_rss_mib(self) -> float:
        return statistics.median(self.rss_kib) / 1024 if self.rss_kib else float("nan")


def timed(cmd: list[str], env: dict[str, str], samples: Samples, tmp: Path) -> None:
    """Run ``cmd`` once (checked, 120 s at most), adding its wall time and peak RSS."""
    use_time = Path(TIME_BINARY).exists()
    rss_file = tmp / "rss.txt"
    argv = [TIME_BINARY, "-f", "%M", "-o", str(rss_file), *cmd] if use_time else cmd
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, timeout=120, check=False)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr.decode()}")
    samples.wall.append(elapsed)
    samples.stdout = proc.stdout.decode()
    if use_time:
        samples.rss_kib.append(int(rss_file.read_text().split()[-1]))
    else:
        after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if after > before:
            samples.rss_kib.append(after)


_IN_PROCESS = """
import sys, time, trio
from pathlib import Path
from sansio_registry import ClientConfig, ImageRef
from trio_backend import open_client
from trio_backend.pull import pull_image

async def main():
    async with open_client(ClientConfig(tls_verify=False)) as client:
        t0 = time.perf_counter()
        await pull_image(client, ImageRef.parse(sys.argv[1]), Path(sys.argv[2]))
        print(time.perf_counter() - t0)

trio.run(main)
"""


def fresh(directory: Path) -> Path:
    shutil.rmtree(directory, ignore_errors=True)
    return directory


def contenders(
    registry: RegistryServer, image: PushedImage, tmp: Path
) -> dict[str, Callable[[dict[str, Samples]], None]]:
    ref = f"{registry.host}/{image.repo}:{image.tag}"
    layer = image.layers[0]
    blob_url = f"{registry.url}/v2/{image.repo}/blobs/{layer.digest}"
    blob_file = tmp / "blob.bin"
    blob_file.write_bytes(layer.data)
    skopeo_home = tmp / "skopeo-home"
    skopeo_home.mkdir()
    skopeo_environ = skopeo_env(skopeo_home)

    def ours(out: dict[str, Samples]) -> None:
        dest = fresh(tmp / "ours")
        cmd = [sys.executable, "-m", "trio_backend", "pull", "-q", "--tls-verify=false"]
        timed([*cmd, ref, str(dest)], _ENV, out["sansio-registry pull"], tmp)

    def in_process(out: dict[str, Samples]) -> None:
        # The same pull through the library, timed inside the process: what an embedding
        # application pays once Python and trio are loaded.
        dest = fresh(tmp / "inproc")
        samples = Samples()
        timed([sys.executable, "-c", _IN_PROCESS, ref, str(dest)], _ENV, samples, tmp)
        out["ours, in-process (library)"].wall.append(float(samples.stdout.split()[-1]))
        out["ours, in-process (library)"].rss_kib.extend(samples.rss_kib)

    def startup(out: dict[str, Samples]) -> None:
        cmd = [sys.executable, "-c", "import trio_backend.cli"]
        timed(cmd, _ENV, out["ours: start-up + imports"], tmp)

    def skopeo(out: dict[str, Samples]) -> None:
        dest = fresh(tmp / "skopeo")
        cmd = ["skopeo", "--insecure-policy", "copy", "--quiet", "--src-tls-verify=false"]
        timed([*cmd, f"docker://{ref}", f"dir:{dest}"], skopeo_environ, out["skopeo copy"], tmp)

    def floor(out: dict[str, Samples]) -> None:
        timed(["curl", "-s", "-o", "/dev/null", blob_url], _ENV, out["curl (transfer)"], tmp)
        timed(
            ["openssl", "dgst", "-sha256", str(blob_file)], _ENV, out["openssl dgst (hash)"], tmp
        )
        out["floor = curl + openssl"].wall.append(
            out["curl (transfer)"].wall[-1] + out["openssl dgst (hash)"].wall[-1]
        )

    return {
        "ours": ours,
        "skopeo": skopeo,
        "floor": floor,
        "startup": startup,
        "in_process": in_process,
    }


def check_outputs(tmp: Path, image: PushedImage) -> None:
    """Both directories hold the same files with the same bytes (else the timing is moot)."""
    ours, theirs = tmp / "ours", tmp / "skopeo"
    names = sorted(p.name for p in ours.iterdir())
    if names != sorted(p.name for p in theirs.iterdir()):
        raise SystemExit(f"directories differ: {names} vs {sorted(os.listdir(theirs))}")
    for name in names:
        if (ours / name).read_bytes() != (theirs / name).read_bytes():
            raise SystemExit(f"{name} differs between sansio-registry and skopeo")
    hex_ = image.layers[0].digest.removeprefix("sha256:")
    if (ours / hex_).stat().st_size != image.layers[0].size:
        raise SystemExit("the layer file has the wrong size")


def table(results: dict[str, Samples], rounds: int, mib: float) -> None:
    ours = results["sansio-registry pull"].median_wall
    skopeo = results["skopeo copy"].median_wall
    floor = results["floor = curl + openssl"].median_wall
    print(f"\npull of a {mib:.1f} MiB single-layer image to a directory, {rounds} rounds (median)")
    print(f"  {'':28} {'wall':>9}  {'MiB/s':>7}  {'peak RSS':>10}  {'ours/x':>7}")
    for name, samples in results.items():
        wall = samples.median_wall
        rss = f"{samples.median_rss_mib:7.1f} MiB" if samples.rss_kib else f"{'-':>11}"
        rate = f"{mib / wall:7.0f}" if "start-up" not in name else f"{'-':>7}"
        print(f"  {name:28} {wall:8.3f}s  {rate}  {rss}  {ours / wall:6.2f}x")
    inproc = results["ours, in-process (library)"].median_wall
    print(f"\n  ours/skopeo = {ours / skopeo:.2f}   ours/floor = {ours / floor:.2f}")
    print(f"  in-process: ours/skopeo = {inproc / skopeo:.2f}   ours/floor = {inproc / floor:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pull")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--mib", type=int, default=64, help="layer size in MiB (64)")
    args = parser.parse_args()
    for package in ("sansio_registry", "trio_backend"):
        compileall.compile_dir(ROOT / package, quiet=1)
    names = [
        "sansio-registry pull",
        "skopeo copy",
        "floor = curl + openssl",
        "curl (transfer)",
        "openssl dgst (hash)",
        "ours: start-up + imports",
        "ours, in-process (library)",
    ]
    results = {name: Samples() for name in names}
    with (
        tempfile.TemporaryDirectory(prefix="bench-pull-") as tmp_name,
        RegistryServer() as registry,
    ):
        tmp = Path(tmp_name)
        layer = random_layer(args.mib * 2**20, seed=7, compresslevel=0)
        image = push_schema2_image(registry, "bench/big", "v1", layers=[layer])
        runners = contenders(registry, image, tmp)
        order = list(runners)
        warmup = {name: Samples() for name in names}
        for name in order:
            runners[name](warmup)
        check_outputs(tmp, image)
        for round_ in range(args.rounds):
            shift = round_ % len(order)
            for name in order[shift:] + order[:shift]:
                runners[name](results)
        table(results, args.rounds, layer.size / 2**20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
