"""Code cites only what a reader of the repository can open.

No file cites the project's private working notes (their section signs or file names), and
every ``docs/<page>.md#<anchor>`` cited in code, in the README or between the docs pages
resolves to a heading of that page, with GitHub's anchor rules.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
#: Where code lives; every text file below these is checked.
CODE_DIRS = ("sansio_registry", "sansio_registry_driverkit", "trio_backend", "examples")
#: Also checked: the tests, the benchmarks and the README.
OTHER_DIRS = ("tests", "benchmarks")
THIS_FILE = Path(__file__).resolve()

#: A private citation: a section sign after the notes' names, or the notes' file names.
PRIVATE = re.compile(r"\b(?:SPEC|DESIGN)\s?§|\b(?:SPEC|DESIGN|LAB)\.md\b")
#: A citation of a docs page: ``docs/<page>.md#<anchor>``.
DOCS_CITATION = re.compile(r"docs/([\w.-]+\.md)#([\w-]+)")
#: A Markdown link inside a docs page: ``(page.md#anchor)`` or ``(#anchor)``.
DOCS_LINK = re.compile(r"\]\((?:([\w.-]+\.md))?#([\w-]+)\)")
_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lowercase, punctuation dropped, spaces to ``-``."""
    text = heading.strip().lower()
    kept = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
    return kept.replace(" ", "-")


def page_anchors(page: Path) -> set[str]:
    """Every anchor of a Markdown page (repeated headings get ``-1``, ``-2``… as on GitHub)."""
    anchors: set[str] = set()
    in_fence = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
            continue
        match = None if in_fence else _HEADING.match(line)
        if match is None:
            continue
        anchor = github_anchor(match.group(1))
        unique, n = anchor, 0
        while unique in anchors:
            n += 1
            unique = f"{anchor}-{n}"
        anchors.add(unique)
    return anchors


def _text_files(*dirs: str) -> list[Path]:
    files: list[Path] = []
    for name in dirs:
        for path in sorted((ROOT / name).rglob("*")):
            if "__pycache__" in path.parts or not path.is_file() or path == THIS_FILE:
                continue
            if path.suffix in (".py", ".md", ".toml", ".txt", ".cfg", ".yaml", ".json", ""):
                files.append(path)
    return files


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:  # a binary fixture cites nothing
        return []


CODE_FILES = _text_files(*CODE_DIRS)
ALL_FILES = [*CODE_FILES, *_text_files(*OTHER_DIRS), ROOT / "README.md"]


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Registry configuration", "registry-configuration"),
        ("Differences from containers/image 5.23.1", "differences-from-containersimage-5231"),
        ("The `Link` header, RFC 8288!", "the-link-header-rfc-8288"),
        ("Blob resume", "blob-resume"),
    ],
)
def test_github_anchor_rules(heading: str, anchor: str) -> None:
    assert github_anchor(heading) == anchor


def test_repeated_headings_are_numbered(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Top\n\n## Notes\n\n```\n## not a heading\n```\n\n## Notes\n")
    assert page_anchors(page) == {"top", "notes", "notes-1"}


def test_no_private_citations() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in ALL_FILES
        for number, line in enumerate(_lines(path), 1)
        if PRIVATE.search(line)
    ]
    assert CODE_FILES, "no code found: the scan itself is broken"
    assert found == []


def _citations() -> list[tuple[str, str, str]]:
    """``(where, page, anchor)`` for every docs citation in code, README and docs pages."""
    out: list[tuple[str, str, str]] = []
    for path in ALL_FILES:
        for number, line in enumerate(_lines(path), 1):
            for match in DOCS_CITATION.finditer(line):
                out.append((f"{path.relative_to(ROOT)}:{number}", match[1], match[2]))
    for page in sorted(DOCS.glob("*.md")):
        for number, line in enumerate(_lines(page), 1):
            for match in DOCS_LINK.finditer(line):
                out.append((f"docs/{page.name}:{number}", match[1] or page.name, match[2]))
    return out


def test_docs_citations_resolve() -> None:
    citations = _citations()
    cited_from_code = [c for c in citations if not c[0].startswith("docs/")]
    assert len({(page, anchor) for _, page, anchor in cited_from_code}) >= 10
    anchors = {page.name: page_anchors(page) for page in DOCS.glob("*.md")}
    broken = [
        f"{where}: docs/{page}#{anchor}"
        for where, page, anchor in citations
        if anchor not in anchors.get(page, set())
    ]
    assert broken == []
