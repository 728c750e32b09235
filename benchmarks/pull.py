"""Pulling an image into a directory: our CLI and library against skopeo and the floor.

The floor is what any client must at least do: download every blob (curl, one keep-alive
connection) and then hash it (``openssl dgst -sha256``; Python's hashlib uses OpenSSL too).
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

from benchmarks.context import Bench, Spec, fresh
from benchmarks.measure import ContenderFailed, Measurement
from benchmarks.report import Row
from benchmarks.seed import BigImage

__all__ = ["pull"]


def _listing(directory: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in directory.iterdir()}


def pull(bench: Bench, image: BigImage, label: str) -> list[Row]:
    registry = bench.seeded.plain
    ref = image.ref(registry.host)
    work = bench.tmp / f"pull-{image.repo.replace('/', '-')}"
    work.mkdir()
    ours_dir, lib_dir, skopeo_dir, floor_dir = (
        work / name for name in ("ours", "lib", "skopeo", "floor")
    )
    timeout = 120 + image.size / 2**20  # generous: a 1 GiB pull on a loaded 2-core machine
    hexes = [digest.removeprefix("sha256:") for digest, _ in image.layers]
    downloads = " ".join(
        f"-o {shlex.quote(str(floor_dir / h))} {registry.url}/v2/{image.repo}/blobs/sha256:{h}"
        for h in hexes
    )
    files = " ".join(shlex.quote(str(floor_dir / h)) for h in hexes)
    floor_script = f"curl -sSf {downloads} && openssl dgst -sha256 {files}"

    def ours() -> Measurement:
        fresh(ours_dir)
        cmd = [*bench.cli, "pull", "-q", "--tls-verify=false", ref, str(ours_dir)]
        return bench.runner.run(cmd, timeout=timeout)

    def library() -> Measurement:
        return bench.runner.python(["lib-pull", ref, str(fresh(lib_dir))], timeout=timeout)

    def skopeo() -> Measurement:
        fresh(skopeo_dir)
        cmd = ["skopeo", "--insecure-policy", "copy", "--quiet", "--src-tls-verify=false"]
        return bench.runner.run([*cmd, f"docker://{ref}", f"dir:{skopeo_dir}"], timeout=timeout)

    def floor() -> Measurement:
        fresh(floor_dir).mkdir()
        done = bench.runner.run(["bash", "-c", floor_script], timeout=timeout)
        got = {line.rsplit("= ", 1)[-1] for line in done.stdout.decode().splitlines()}
        if got != set(hexes):
            raise ContenderFailed("openssl printed other digests than the layers'")
        return done

    def checked_ours() -> Measurement:
        done = ours()
        want = {h: size for h, (_, size) in zip(hexes, image.layers, strict=True)}
        got = _listing(ours_dir)
        if any(got.get(h) != size for h, size in want.items()):
            raise ContenderFailed("the pulled layers have the wrong names or sizes")
        if skopeo_dir.exists() and _listing(skopeo_dir) != got:
            raise ContenderFailed("our directory differs from skopeo's")
        return done

    cli = "sansio-registry pull"
    lib = "sansio-registry library pull_image, in-process"
    mib = image.size / 2**20
    try:
        return bench.compare(
            f"pull {label}, plain http",
            [
                Spec(
                    "skopeo copy docker:// dir:",
                    skopeo,
                    cli,
                    why_faster="our command starts the interpreter and imports trio and our "
                    "modules first (start-up rows); the transfer alone is the library row",
                ),
                Spec(cli, checked_ours, cli, lambda s: f"{mib / (s.wall or 1):.0f} MiB/s"),
                Spec(
                    lib,
                    library,
                    cli,
                    lambda s: f"{mib / (s.wall or 1):.0f} MiB/s",
                    why_faster="the same pull without the process start",
                ),
                Spec(
                    "floor: curl, then openssl dgst -sha256",
                    floor,
                    cli,
                    why_faster="no process start of ours to pay, no manifest or config, "
                    "nothing verified before the file is kept",
                ),
            ],
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
