"""The command line without a registry: argument parsing, exit codes, manifest-digest."""

from __future__ import annotations

import argparse
import hashlib
import math
import socket
import tomllib
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

from trio_backend.cli import (
    _bool_flags,
    _timeouts,
    build_parser,
    main,
    package_version,
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


# -- global flags before or after the sub-command (skopeo accepts both) ----------------------

GLOBAL_FLAG_VALUES = [
    (["--debug"], "debug", True),
    (["--override-os", "windows"], "override_os", "windows"),
    (["--override-arch", "arm64"], "override_arch", "arm64"),
    (["--override-variant", "v8"], "override_variant", "v8"),
    (["--registries.d", "/rd"], "registries_d", "/rd"),
    (["--registries-conf", "/rc"], "registries_conf", "/rc"),
    (["--command-timeout", "1m"], "command_timeout", 60.0),
    (["--idle-timeout", "2s"], "timeout_idle", 2.0),
]
COMMANDS = [
    ["inspect", "a.test/x:1"],
    ["pull", "a.test/x:1", "d"],
    ["signatures", "a.test/x:1"],
    ["delete", "a.test/x:1"],
    ["list-tags", "a.test/x"],
    ["manifest-digest", "f"],
]


@pytest.mark.parametrize(("flag", "dest", "value"), GLOBAL_FLAG_VALUES)
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_global_flag_after_the_command(
    flag: list[str], dest: str, value: object, command: list[str]
) -> None:
    args = build_parser().parse_args([command[0], *flag, *command[1:]])
    assert getattr(args, dest) == value


@pytest.mark.parametrize(("flag", "dest", "value"), GLOBAL_FLAG_VALUES)
def test_global_flag_before_the_command_is_not_reset_by_it(
    flag: list[str], dest: str, value: object
) -> None:
    args = build_parser().parse_args([*flag, "inspect", "a.test/x:1"])
    assert getattr(args, dest) == value


def test_global_flags_default_to_unset_in_either_place() -> None:
    args = build_parser().parse_args(["inspect", "a.test/x:1"])
    assert args.debug is False
    assert args.override_arch is None and args.command_timeout is None


def test_global_flags_in_both_places_combine() -> None:
    args = build_parser().parse_args(
        ["--override-arch", "arm64", "inspect", "--debug", "--override-os", "linux", "r"]
    )
    assert (args.override_arch, args.override_os, args.debug) == ("arm64", "linux", True)


def test_a_bool_word_after_a_global_flag_after_the_command_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["inspect", "--debug", "true", "a.test/x:1"]) == 2
    assert "--debug=true" in capsys.readouterr().err


# -- --version ---------------------------------------------------------------------------------


def _pyproject_version() -> str:
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    version = tomllib.loads(pyproject.read_text())["project"]["version"]
    assert isinstance(version, str)
    return version


def test_version_prints_the_package_version_and_exits_0(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out == f"sansio-registry {metadata.version('sansio-registry')}\n"


def test_version_without_package_metadata_comes_from_pyproject(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def not_installed(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", not_installed)
    assert package_version() == _pyproject_version()


# -- references that are not image references --------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["inspect", "http://a.test:5000/ns/app:v1"],
        ["inspect", "a.test/ok:1", "HTTPS://a.test:5000/ns/app:v1"],
        ["pull", "http://a.test:5000/ns/app:v1", "d"],
        ["signatures", "http://a.test:5000/ns/app:v1"],
        ["delete", "https://a.test:5000/ns/app:v1"],
        ["list-tags", "http://a.test:5000/ns/app"],
    ],
)
def test_http_url_as_ref_is_a_usage_error_with_a_hint(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--registries-conf", "/dev/null", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "docker://a.test:5000/ns/app" in err and "--tls-verify=false" in err


@pytest.mark.parametrize(
    "ref",
    [
        "docker://a.test/ns/app:v1",
        "a.test:5000/ns/app:latest",
        "busybox:1",
        "a.test/ns/app@sha256:" + "a" * 64,
    ],
)
def test_list_tags_refuses_a_tag_or_digest(ref: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--registries-conf", "/dev/null", "list-tags", ref]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "no tag or digest allowed" in captured.err and captured.err.count("\n") == 1


# -- --command-timeout names what timed out ----------------------------------------------------


@pytest.fixture
def silent_host() -> Iterator[str]:
    """A listening socket nobody answers on: connections are made, no byte ever comes."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield f"127.0.0.1:{listener.getsockname()[1]}"


@pytest.mark.parametrize("command", ["inspect", "list-tags", "signatures"])
def test_command_timeout_names_the_references(
    silent_host: str, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    refs = [f"{silent_host}/ns/one"] if command == "list-tags" else [f"{silent_host}/ns/one:1"]
    if command == "inspect":
        refs.append(f"{silent_host}/ns/two:2")
    argv = ["--registries-conf", "/dev/null", "--command-timeout", "300ms", command]
    assert main([*argv, "--tls-verify=false", *refs]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "timed out after 0.3s (--command-timeout)" in err
    for ref in refs:
        assert ref in err
