"""Many REFs across many repositories in one process: how time, connections, tokens and
memory grow from 200 REFs (5 repositories) to 2,000 (50), one token scope per repository."""

from __future__ import annotations

from benchmarks.context import Bench, Spec, rows_of
from benchmarks.measure import ContenderFailed, Measurement, Samples
from benchmarks.report import Row, format_count
from benchmarks.seed import SCALE_REPOS, SCALE_TAGS, scale_refs

__all__ = ["scale"]


def _details(samples: Samples) -> str:
    return ", ".join(
        f"{format_count(samples.info(key))} {key}" for key in ("connections", "requests", "tokens")
    )


def _growth(small: float | None, large: float | None) -> str:
    return "-" if small is None or large is None or small == 0 else f"x{large / small:.1f}"


def scale(bench: Bench) -> list[Row]:
    issuer = bench.seeded.issuer
    sizes = {f"{repos * SCALE_TAGS:,} REFs ({repos} repos)": repos for repos in (5, SCALE_REPOS)}

    def run(repos: int) -> Measurement:
        refs = scale_refs(bench.seeded, repos)
        issuer.reset()
        done = bench.runner.python(["lib-inspect", *refs], timeout=600)
        if done.info.get("documents") != 2 * len(refs):
            raise ContenderFailed("not every manifest and config was read")
        tokens = issuer.count(path="/token")
        return Measurement(done.wall, done.rss_kib, info={**done.info, "tokens": tokens})

    case = "scale: library, every REF at once, token auth"
    specs = [
        Spec(name, lambda repos=repos: run(repos), details=_details)
        for name, repos in sizes.items()
    ]
    results = bench.measure(case, specs)
    small, large = (results[name] for name in sizes)
    growth = ", ".join(
        f"{what} {_growth(a, b)}"
        for what, a, b in (
            ("wall", small.wall, large.wall),
            ("connections", small.info("connections"), large.info("connections")),
            ("tokens", small.info("tokens"), large.info("tokens")),
            ("peak RSS", small.rss_kib, large.rss_kib),
        )
    )
    return [*rows_of(case, specs, results), Row(case, "growth, x10 REFs", "", details=growth)]
