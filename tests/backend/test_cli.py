"""The command line without a registry: argument parsing, exit codes, manifest-digest."""

from __future__ import annotations

import argparse
import hashlib
import math
from pathlib import Path

import pytest

from trio_backend.cli import (
    _bool_flags,
    _timeouts,
    build_parser,
    main,
    parse_bool,
    parse_duration,
)
from trio_backend.timeouts import Timeouts

# The minimal signed schema1 manifest and its digest (vectors from containers/image 5.23.1).
SCHEMA1 = (
    b'{"schemaVersion":1,"name":"a","tag":"t","signatures":[{"header":{"alg":"ES256"},'
    b'"signature":"AAAA","protected":"eyJmb3JtYXRMZW5ndGgiOjM5LCJmb3JtYXRUYWlsIjoiZlEiLCJ0aW1l'
    b'IjoiMjAyMC0wMS0wMVQwMDowMDowMFoifQ"}]}'
)
SCHEMA1_DIGEST = "sha256:cb5af70325dc287bd960539c4c012c2a7a8cb3f91887a76bd29a2a1e15bddc1b"


@pytest.mark.parametrize(
    ("text", "value"),
    [("true", True), ("1", True), ("T", True), ("false", False), ("0", False), ("F", False)],
)
def test_parse_bool_accepts_go_spellings(text: str, value: bool) -> None:
    assert parse_bool(text) is value


@pytest.mark.parametrize("text", ["yes", "", "2", "truee"])
def test_parse_bool_rejects_others(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_bool(text)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30.0), ("1m30s", 90.0), ("500ms", 0.5), ("2h", 7200.0), ("1.5s", 1.5), ("45", 45.0)],
)
def test_parse_duration_go_style(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "s", "10x", "1m junk", "-"])
def test_parse_duration_rejects_garbage(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration(text)


def test_tls_verify_flag_forms() -> None:
    parser = build_parser()
    assert parser.parse_args(["inspect", "r"]).tls_verify is None
    assert parser.parse_args(_bool_flags(["inspect", "--tls-verify", "r"])).tls_verify is True
    assert parser.parse_args(_bool_flags(["inspect", "--tls-verify", "r"])).refs == ["r"]
    assert parser.parse_args(["inspect", "--tls-verify=false", "r"]).tls_verify is False


def test_manifest_digest_of_schema1_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "m.json"
    path.write_bytes(SCHEMA1)
    assert main(["manifest-digest", str(path)]) == 0
    assert capsys.readouterr().out == SCHEMA1_DIGEST + "\n"


def test_manifest_digest_of_plain_bytes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}'
    path = tmp_path / "m.json"
    path.write_bytes(data)
    assert main(["manifest-digest", str(path)]) == 0
    assert capsys.readouterr().out == f"sha256:{hashlib.sha256(data).hexdigest()}\n"


def test_manifest_digest_missing_file_is_one_line_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["manifest-digest", str(tmp_path / "nope.json")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope.json" in err and "Traceback" not in err


def test_manifest_digest_bad_schema1_is_one_line_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "m.json"
    path.write_bytes(b'{"schemaVersion":1,"name":"a","signatures":"x"}')
    assert main(["manifest-digest", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "signatures" in err


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["inspect"],
        ["frobnicate"],
        ["inspect", "--tls-verify=maybe", "r"],
        ["--command-timeout", "soon", "inspect", "r"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["inspect", "--raw", "a.test/x:1", "b.test/y:1"],
        ["inspect", "--creds", "u:p", "--no-creds", "a.test/x:1"],
        ["inspect", "--creds", "u:p", "--registry-token", "t", "a.test/x:1"],
        ["inspect", "oci:/tmp/layout"],
    ],
)
def test_conflicting_options_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("sansio-registry: error:") and err.count("\n") == 1


def test_bad_reference_is_one_line_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--registries-conf", "/dev/null", "inspect", "docker://Example.com/UPPER:x"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "repository name must be lowercase" in err and "Example.com/UPPER:x" in err


def test_missing_registries_conf_is_one_line_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "none.conf"
    assert main(["--registries-conf", str(missing), "inspect", "a.test/x:1"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such file or directory" in err


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (["inspect", "--tls-verify", "false", "a.test/x:1"], "--tls-verify=false"),
        (["pull", "--tls-verify", "TRUE", "a.test/x:1", "d"], "--tls-verify=TRUE"),
        (["inspect", "--raw", "false", "a.test/x:1"], "--raw=false"),
    ],
)
def test_bool_word_after_a_boolean_flag_is_a_usage_error(
    argv: list[str], hint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert hint in err and "Traceback" not in err


def test_a_ref_named_like_a_bool_elsewhere_is_still_a_ref() -> None:
    args = build_parser().parse_args(_bool_flags(["inspect", "--tls-verify=false", "false"]))
    assert args.refs == ["false"]


def test_no_command_deadline_unless_asked() -> None:
    parser = build_parser()
    assert parser.parse_args(["inspect", "r"]).command_timeout is None
    assert parser.parse_args(["--command-timeout", "90s", "inspect", "r"]).command_timeout == 90


def test_timeout_flags_make_the_pool_timeouts() -> None:
    args = build_parser().parse_args(
        ["--idle-timeout", "2m", "--tls-handshake-timeout", "0", "inspect", "r"]
    )
    limits = _timeouts(args)
    assert limits.idle == 120.0
    assert limits.tls_handshake == math.inf  # 0: no limit
    assert limits.connect == Timeouts().connect
