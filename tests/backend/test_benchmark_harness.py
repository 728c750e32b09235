"""The benchmark harness's bookkeeping on fixed input: importtime parsing, the Markdown table,
units, rows from samples, and the interleaving order. No timing is ever asserted."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import readme
from benchmarks.context import Spec, rows_of
from benchmarks.measure import ContenderFailed, Measurement, Samples, interleave
from benchmarks.report import (
    Row,
    format_duration,
    format_mib,
    format_ratio,
    markdown_table,
    parse_importtime,
    top_level_import_us,
)

IMPORTTIME = """\
import time: self [us] | cumulative | imported package
import time:       120 |        120 |   _io
import time:        40 |        160 | encodings
import time:       300 |        300 |     trio._core._run
import time:        25 |        325 |   trio._core
import time:      1000 |       1325 | trio
some unrelated line on stderr
import time:         7 |          7 |     sansio_registry.digest
import time:       500 |        507 |   sansio_registry
import time:       900 |       1407 | trio_backend.cli
"""


def test_importtime_keeps_only_top_level_modules_with_cumulative_times() -> None:
    assert parse_importtime(IMPORTTIME) == {
        "encodings": 160,
        "trio": 1325,
        "trio_backend.cli": 1407,
    }


def test_importtime_total_is_the_sum_of_top_level_cumulative_times() -> None:
    assert top_level_import_us(IMPORTTIME) == 160 + 1325 + 1407


def test_importtime_of_text_without_import_lines_is_zero() -> None:
    assert top_level_import_us("Traceback (most recent call last):\n") == 0


def test_markdown_table_has_a_header_a_rule_and_escaped_cells() -> None:
    rows = [
        Row("pull", "ours", "0.50 s", "1.00x", "39 MiB", "a|b", ""),
        Row("pull", "skopeo", "0.40 s", "0.80x", "20 MiB"),
    ]
    assert markdown_table(rows, columns=("c", "n", "m", "r", "rss", "d", "w")).splitlines() == [
        "| c | n | m | r | rss | d | w |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        "| pull | ours | 0.50 s | 1.00x | 39 MiB | a\\|b |  |",
        "| pull | skopeo | 0.40 s | 0.80x | 20 MiB |  |  |",
    ]


def test_markdown_table_refuses_rows_that_do_not_fit_the_columns() -> None:
    with pytest.raises(ValueError, match="7 cells"):
        markdown_table([Row("a", "b", "c")], columns=("one", "two"))


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (2.345, "2.35 s"), (0.0123, "12.3 ms"), (0.0000456, "45.6 µs")],
)
def test_durations_are_shown_in_a_readable_unit(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


def test_ratio_and_sizes() -> None:
    assert format_ratio(3.0, 2.0) == "1.50x"
    assert format_ratio(None, 2.0) == "-"
    assert format_ratio(1.0, 0.0) == "-"
    assert format_mib(40960) == "40 MiB"
    assert format_mib(None) == "-"


def test_rows_take_medians_ratios_to_their_base_and_report_failures() -> None:
    results = {
        "ours": Samples([Measurement(1.0, 2048), Measurement(3.0, 4096), Measurement(2.0)]),
        "peer": Samples([Measurement(5.0, 1024)]),
        "broken": Samples(error="peer exited 1: boom"),
    }
    specs = [
        Spec("ours", lambda: Measurement(0), "ours"),
        Spec("peer", lambda: Measurement(0), "ours", lambda s: f"{len(s.runs)} run"),
        Spec("broken", lambda: Measurement(0), "ours"),
    ]
    assert rows_of("case", specs, results) == [
        Row("case", "ours", "2.00 s", "1.00x", "3 MiB"),
        Row("case", "peer", "5.00 s", "2.50x", "1 MiB", "1 run"),
        Row("case", "broken", "failed", details="peer exited 1: boom"),
    ]


def test_interleave_warms_up_rotates_the_order_and_drops_a_failing_contender() -> None:
    calls: list[str] = []

    def contender(name: str) -> Measurement:
        calls.append(name)
        if name == "c" and calls.count("c") == 2:
            raise ContenderFailed("second run failed")
        return Measurement(float(len(calls)))

    results = interleave({n: (lambda n=n: contender(n)) for n in "abc"}, rounds=3)
    # warm-up a b c; round 1 a b c (c fails); round 2 b a; round 3 a b
    assert calls == ["a", "b", "c", "a", "b", "c", "b", "a", "a", "b"]
    assert [m.wall for m in results["a"].runs] == [4.0, 8.0, 9.0]
    assert results["c"].runs == []
    assert results["c"].error == "second run failed"


def test_why_is_shown_only_when_the_contender_beats_its_base() -> None:
    results = {
        "ours": Samples([Measurement(2.0)]),
        "faster": Samples([Measurement(1.0)]),
        "slower": Samples([Measurement(3.0)]),
    }
    specs = [
        Spec("ours", lambda: Measurement(0), "ours", why_faster="never shown"),
        Spec("faster", lambda: Measurement(0), "ours", why_faster="no verification"),
        Spec("slower", lambda: Measurement(0), "ours", why_faster="not shown"),
    ]
    assert [row.why for row in rows_of("case", specs, results)] == ["", "no verification", ""]


RESULTS = """# Benchmark results

- CPU: something

| case | contender | median | this / ours | peak RSS | details | why |
| --- | --- | --- | --- | --- | --- | --- |
| a | b | 1.0 ms | 1.00x | 1 MiB |  |  |
"""


def test_the_readme_table_is_replaced_between_its_markers() -> None:
    readme_text = f"intro\n{readme.BEGIN}\nold table\n{readme.END}\noutro\n"
    assert readme.with_results(readme_text, RESULTS) == (
        f"intro\n{readme.BEGIN}\n"
        "| case | contender | median | this / ours | peak RSS | details | why |\n"
        "| --- | --- | --- | --- | --- | --- | --- |\n"
        "| a | b | 1.0 ms | 1.00x | 1 MiB |  |  |\n"
        f"{readme.END}\noutro\n"
    )
    with pytest.raises(ValueError, match="markers"):
        readme.with_results("no markers here", RESULTS)


def test_the_readme_shows_the_table_of_results_md() -> None:
    root = Path(__file__).resolve().parents[2]
    readme_text = (root / "README.md").read_text()
    results = (root / "benchmarks" / "results.md").read_text()
    assert readme.with_results(readme_text, results) == readme_text
