"""The README's performance table is the table of ``benchmarks/results.md``, copied between
two markers, so the two never disagree (a test checks it). ``python -m benchmarks.readme``
copies it by hand; ``benchmarks/run`` does it whenever it writes ``results.md``."""

from __future__ import annotations

from pathlib import Path

from benchmarks.measure import ROOT

__all__ = ["BEGIN", "END", "results_table", "with_results", "sync"]

BEGIN = "<!-- the table of benchmarks/results.md: begin -->"
END = "<!-- the table of benchmarks/results.md: end -->"


def results_table(results: str) -> str:
    """The Markdown table in ``results``: its lines from the header to the last row."""
    lines = results.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| case |"))
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return "\n".join(lines[start:end])


def with_results(readme: str, results: str) -> str:
    """``readme`` with the text between the markers replaced by the results' table."""
    head, begin, rest = readme.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise ValueError(f"the README lacks the markers {BEGIN!r} and {END!r}")
    return f"{head}{BEGIN}\n{results_table(results)}\n{END}{tail}"


def sync(root: Path = ROOT) -> None:
    readme = root / "README.md"
    results = (root / "benchmarks" / "results.md").read_text()
    readme.write_text(with_results(readme.read_text(), results))


if __name__ == "__main__":
    sync()
