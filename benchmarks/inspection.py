"""Reading manifests and configs: a 200-REF batch, a one-shot command, and start-up cost."""

from __future__ import annotations

import json
import sys
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from benchmarks.context import Bench, Spec, rows_of, sha256_digest
from benchmarks.measure import (
    Contender,
    ContenderFailed,
    Measurement,
    Samples,
    with_server_cpu,
)
from benchmarks.report import Row, format_count, format_duration, median, top_level_import_us
from benchmarks.seed import BATCH_REPO, Tagged
from tests.lab.images import ALL_MANIFEST_TYPES

__all__ = ["batch_inspection", "one_shot", "start_up"]

_INTERPRETER_WHY = "the interpreter's own start: the floor under any Python command"
_STARTUP_WHY = (
    "a Go binary starts at once; we pay the interpreter, then importing trio and our modules "
    "(start-up rows)"
)
_FLOOR_WHY = (
    "our row includes the process start (start-up rows); curl parses nothing, checks no "
    "digest, and its token was fetched before the clock started"
)

_SKOPEO_LOOP = """set -e
for ref in "$@"; do skopeo inspect --no-tags --tls-verify=false "docker://$ref"; done
"""


def _whole_process(samples: Samples) -> str:
    wall = median([float(m.info["process_wall"]) for m in samples.runs])
    return f"whole process {format_duration(wall)}" if wall is not None else ""


def _bearer_token(bench: Bench, repo: str) -> str:
    """An anonymous pull token for ``repo``, fetched the way any client would."""
    issuer = bench.seeded.issuer
    query = urllib.parse.urlencode({"service": issuer.service, "scope": f"repository:{repo}:pull"})
    with urllib.request.urlopen(f"{issuer.realm}?{query}", timeout=10) as response:
        token: str = json.load(response)["token"]
    return token


def _curl_config(bench: Bench, images: tuple[Tagged, ...], token: str) -> Path:
    """A curl config fetching every manifest and config with one token, output discarded."""
    base = bench.seeded.token.url
    lines = [
        "silent",
        "fail",
        'write-out = "%{http_code}\\n"',
        f'header = "Authorization: Bearer {token}"',
        f'header = "Accept: {", ".join(ALL_MANIFEST_TYPES)}"',
    ]
    for image in images:
        for path in (f"manifests/{image.tag}", f"blobs/{image.config_digest}"):
            lines += [f'url = "{base}/v2/{image.repo}/{path}"', 'output = "/dev/null"']
    path = bench.tmp / "curl-batch.conf"
    path.write_text("\n".join(lines) + "\n")
    return path


def batch_inspection(bench: Bench) -> list[Row]:
    """200 REFs of one repository (token auth): each summary needs a manifest and a config."""
    images = bench.seeded.batch
    host = bench.seeded.token.host
    refs = [image.ref(host) for image in images]
    documents = 2 * len(images)
    loop = bench.tmp / "skopeo-loop.sh"
    loop.write_text(_SKOPEO_LOOP)

    def ours_cli() -> Measurement:
        done = bench.runner.run([*bench.cli, "inspect", "--no-tags", "--tls-verify=false", *refs])
        digests = [summary["Digest"] for summary in json.loads(done.stdout)]
        if digests != [image.digest for image in images]:
            raise ContenderFailed("inspect printed other digests than were pushed")
        return done

    def ours_library() -> Measurement:
        return _checked_documents(bench.runner.python(["lib-inspect", *refs]), documents)

    def curl() -> Measurement:
        config = _curl_config(bench, images, _bearer_token(bench, BATCH_REPO))
        done = bench.runner.run(["curl", "--parallel", "--parallel-max", "8", "-K", str(config)])
        if done.stdout.decode().split() != ["200"] * documents:
            raise ContenderFailed("curl did not get 200 for every document")
        return done

    def skopeo() -> Measurement:
        done = bench.runner.run(["bash", str(loop), *refs], timeout=600)
        if done.stdout.count(b'"Name":') != len(refs):
            raise ContenderFailed("skopeo printed fewer summaries than REFs")
        return done

    def oras() -> Measurement:
        return _checked_documents(bench.runner.python(["oras", *refs]), documents)

    def dxf() -> Measurement:
        return _checked_documents(bench.runner.python(["dxf", *refs]), documents)

    cli = "sansio-registry inspect, 1 process"
    lib = "sansio-registry library, in-process"
    case = f"batch inspection: {len(refs)} REFs, token auth"
    registry = bench.seeded.token.process
    assert registry is not None

    def spec(
        name: str,
        run: Contender,
        base: str,
        details: Callable[[Samples], str],
        why_faster: str = "",
    ) -> Spec:
        """The registry's CPU is measured too: on a 2-core machine it shares the cores."""
        return Spec(
            name,
            with_server_cpu(run, registry.pid),
            base,
            lambda s: f"{details(s)}; {_cpu(s)}",
            why_faster,
        )

    return bench.compare(
        case,
        [
            spec(cli, ours_cli, cli, lambda _: "manifest + config per REF, --no-tags"),
            spec(
                lib,
                ours_library,
                lib,
                lambda s: (
                    f"{_whole_process(s)}; {format_count(s.info('connections'))} connections; "
                    f"CPU within the batch {format_duration(s.info('batch_cpu'))}"
                ),
            ),
            spec(
                "curl, 8 parallel keep-alive (floor)",
                curl,
                cli,
                lambda _: f"{documents} known URLs, token fetched beforehand",
                why_faster=_FLOOR_WHY,
            ),
            spec(
                "skopeo inspect, 1 process per REF",
                skopeo,
                cli,
                lambda _: "--no-tags; tries https first",
            ),
            spec("oras-py, in-process", oras, lib, _whole_process),
            spec(
                "python-dxf, in-process",
                dxf,
                lib,
                lambda s: (
                    f"{_whole_process(s)}; refuses token auth over http: token fetched "
                    "by our callback"
                ),
            ),
        ],
    )


def _cpu(samples: Samples) -> str:
    """CPU of the contender's whole process tree, and of the registry while it ran."""
    own, server = samples.info("cpu"), samples.info("server_cpu")
    return f"CPU {format_duration(own)}, registry CPU {format_duration(server)}"


def _checked_documents(done: Measurement, expected: int) -> Measurement:
    if done.info.get("documents") != expected:
        raise ContenderFailed(f"read {done.info.get('documents')} documents, not {expected}")
    return done


def one_shot(bench: Bench) -> list[Row]:
    """``inspect --raw`` of one small image over plain HTTP: start-up dominates."""
    image = bench.seeded.small
    ref = f"docker://{image.ref(bench.seeded.plain.host)}"

    def checked(cmd: list[str]) -> Measurement:
        done = bench.runner.run(cmd)
        if sha256_digest(done.stdout) != image.digest:
            raise ContenderFailed("the printed manifest is not the pushed one")
        return done

    ours = "sansio-registry inspect --raw"
    return bench.compare(
        "one-shot: inspect --raw, plain http",
        [
            Spec(
                ours,
                lambda: checked([*bench.cli, "inspect", "--raw", "--tls-verify=false", ref]),
                ours,
            ),
            Spec(
                "skopeo inspect --raw",
                lambda: checked(["skopeo", "inspect", "--raw", "--tls-verify=false", ref]),
                ours,
                why_faster=_STARTUP_WHY,
            ),
            Spec(
                "python -c pass (start-up floor)",
                lambda: bench.runner.run([sys.executable, "-c", "pass"]),
                ours,
                why_faster=_INTERPRETER_WHY,
            ),
        ],
    )


def start_up(bench: Bench) -> list[Row]:
    """What importing the CLI costs over importing trio, from ``-X importtime``."""

    def importtime(module: str) -> Measurement:
        done = bench.runner.run([sys.executable, "-X", "importtime", "-c", f"import {module}"])
        total_us = top_level_import_us(done.stderr.decode())
        return Measurement(wall=total_us / 1e6, rss_kib=done.rss_kib)

    def process(code: str) -> Measurement:
        return bench.runner.run([sys.executable, "-c", code])

    cli = "python -c 'import trio_backend.cli'"
    case = "start-up"
    specs = [
        Spec(cli, lambda: process("import trio_backend.cli"), cli),
        Spec(
            "python -c 'import trio'",
            lambda: process("import trio"),
            cli,
            why_faster="a part of the row above: trio and the interpreter, without our modules",
        ),
        Spec("python -c pass", lambda: process("pass"), cli, why_faster=_INTERPRETER_WHY),
        Spec("importtime: trio_backend.cli", lambda: importtime("trio_backend.cli")),
        Spec("importtime: trio", lambda: importtime("trio")),
    ]
    results = bench.measure(case, specs)
    # Paired by round (the two ran next to each other), then the median of the differences.
    pairs = zip(
        results["importtime: trio_backend.cli"].runs,
        results["importtime: trio"].runs,
        strict=False,
    )
    own_row = Row(
        case,
        "own import cost (importtime: trio_backend.cli - trio)",
        format_duration(median([ours.wall - trio.wall for ours, trio in pairs])),
        details="top-level modules' cumulative times summed; median of per-round differences",
    )
    return [*rows_of(case, specs, results), own_row]
