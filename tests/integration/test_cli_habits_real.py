"""What the command line tells a user who is not watching a terminal, against a real registry.

- ``pull`` ends with one summary line on stderr even when stderr is a pipe or a log (``-q``
  silences it): what was pulled, its digest, how many blobs, how much and how long.
- ``signatures`` that finds nothing because nothing was set up to look in says so (one stderr
  line), instead of an empty output that reads like "unsigned"; once any source is
  configured (a registries.d lookaside, sigstore attachments, a registry with the extension),
  finding nothing is a plain empty answer.
- ``--version`` run as a process prints ``sansio-registry <version>`` and exits 0.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.lab.cli import CLIResult, run_cli
from tests.lab.extension_server import ExtensionProxy
from tests.lab.labs import Lab

SUMMARY = re.compile(
    r"^Pulled (?P<ref>\S+) \((?P<digest>sha256:[0-9a-f]{64})\) into (?P<dir>.+): "
    r"(?P<blobs>\d+) blobs, (?P<mib>\d+\.\d) MiB in (?P<seconds>\d+\.\d) s$"
)
NO_SOURCE = "no signature source configured"


def test_pull_to_a_pipe_ends_with_one_summary_line(plain_registry: Lab, tmp_path: Path) -> None:
    image = plain_registry.images.app
    ref = f"docker://{plain_registry.ref(image)}"
    dest = tmp_path / "img"
    result = run_cli(["pull", "--tls-verify=false", ref, str(dest)])
    assert result.returncode == 0, result.describe()
    assert len(result.stderr_lines) == 1, result.describe()
    match = SUMMARY.match(result.stderr_lines[0])
    assert match is not None, result.describe()
    assert match["ref"] == ref and match["digest"] == image.digest
    assert Path(match["dir"]) == dest
    assert int(match["blobs"]) == len(image.blobs)
    total = sum(blob.size for blob in image.blobs)
    assert float(match["mib"]) == pytest.approx(total / 2**20, abs=0.05)
    assert float(match["seconds"]) < result.elapsed + 0.05


def test_quiet_pull_to_a_pipe_prints_nothing(plain_registry: Lab, tmp_path: Path) -> None:
    ref = plain_registry.ref(plain_registry.images.app)
    result = run_cli(["pull", "-q", "--tls-verify=false", ref, str(tmp_path / "img")])
    assert result.returncode == 0, result.describe()
    assert result.stderr == "" and result.stdout == b""


def _registries_d(folder: Path, host: str, settings: dict[str, Any] | None) -> Path:
    folder.mkdir()
    if settings is not None:
        (folder / "lab.yaml").write_text(yaml.safe_dump({"docker": {host: settings}}))
    return folder


def _signatures(registries_d: Path, ref: str) -> CLIResult:
    return run_cli(["--registries.d", str(registries_d), "signatures", "--tls-verify=false", ref])


def test_signatures_with_no_source_configured_says_so(plain_registry: Lab, tmp_path: Path) -> None:
    empty = _registries_d(tmp_path / "d", plain_registry.host, None)
    result = _signatures(empty, plain_registry.ref(plain_registry.images.app))
    assert result.returncode == 0, result.describe()
    assert result.stdout == b""
    assert len(result.stderr_lines) == 1 and NO_SOURCE in result.stderr, result.describe()


@pytest.mark.parametrize("source", ["lookaside", "use-sigstore-attachments"])
def test_signatures_found_none_in_a_configured_source_is_quiet(
    plain_registry: Lab, tmp_path: Path, source: str
) -> None:
    value: Any = (tmp_path / "sigs").as_uri() if source == "lookaside" else True
    configured = _registries_d(tmp_path / "d", plain_registry.host, {source: value})
    result = _signatures(configured, plain_registry.ref(plain_registry.images.app))
    assert result.returncode == 0, result.describe()
    assert result.stdout == b"" and result.stderr == ""


def test_signatures_from_a_registry_with_the_extension_is_quiet(
    plain_registry: Lab, tmp_path: Path
) -> None:
    empty = _registries_d(tmp_path / "d", plain_registry.host, None)
    image = plain_registry.images.app
    with ExtensionProxy(plain_registry.host) as proxy:
        result = _signatures(empty, image.ref(proxy.host))
        asked = proxy.extension_requests()
    assert len(asked) == 1
    assert result.returncode == 0, result.describe()
    assert result.stdout == b"" and result.stderr == ""


def test_version_as_a_process() -> None:
    result = run_cli(["--version"])
    assert result.returncode == 0, result.describe()
    assert re.fullmatch(rb"sansio-registry \d+\.\d+\.\d+\S*\n", result.stdout), result.describe()
    assert result.stderr == ""
