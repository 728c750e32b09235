"""trio_backend.load_config: the CLI's configuration, for library code, in one call."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path

import pytest

from sansio_registry import Credentials, ImageRef, RetryPolicy
from trio_backend import load_config
from trio_backend.cli import _settings, build_parser


def home(tmp_path: Path) -> dict[str, str]:
    """A HOME holding registries.conf, auth.json and registries.d, as a user would."""
    config = tmp_path / ".config" / "containers"
    config.mkdir(parents=True)
    (config / "registries.conf").write_text(
        '[[registry]]\nprefix = "short.test"\nlocation = "real.test/mirrored"\n'
    )
    auth = base64.b64encode(b"alice:secret").decode()
    (config / "auth.json").write_text(json.dumps({"auths": {"real.test": {"auth": auth}}}))
    registries_d = config / "registries.d"
    registries_d.mkdir()
    (registries_d / "a.yaml").write_text(
        "docker:\n  real.test:\n    lookaside: https://sigs.test/real\n"
    )
    return {"HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(tmp_path / "run")}


def test_load_config_reads_what_the_cli_reads(tmp_path: Path) -> None:
    env = home(tmp_path)
    config, _tls = load_config(env=env)
    ref = ImageRef.parse("short.test/app:v1")
    [source] = config.registries.pull_sources(ref)
    assert str(source.ref) == "real.test/mirrored/app:v1"
    physical = ImageRef.parse("real.test/app:v1")
    assert config.credentials_for(physical, physical) == Credentials("alice", "secret")
    base = config.registries_d.lookaside_base(
        physical, write=False, default_dir=config.lookaside_default
    )
    assert base == "https://sigs.test/real"
    assert config.platform is not None  # the host's, as the CLI resolves lists


def test_no_auth_files_and_explicit_choices(tmp_path: Path) -> None:
    env = home(tmp_path)
    config, _ = load_config(env=env, use_auth_files=False, tls_verify=False)
    physical = ImageRef.parse("real.test/app:v1")
    assert config.auth_files == () and config.credentials_for(physical, physical) is None
    assert config.is_insecure(False)


@pytest.mark.parametrize(
    "flags", [[], ["--tls-verify=false", "--no-creds"], ["--creds", "bob:pw"]]
)
def test_the_cli_gets_its_settings_from_load_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flags: list[str]
) -> None:
    for name, value in home(tmp_path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("CONTAINERS_REGISTRIES_CONF", raising=False)
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    args = build_parser().parse_args(["inspect", *flags, "short.test/app:v1"])
    loaded = _settings(args)
    expected, _ = load_config(
        credentials=Credentials("bob", "pw") if "--creds" in flags else None,
        use_auth_files="--no-creds" not in flags,
        tls_verify=False if "--tls-verify=false" in flags else None,
    )
    seed = loaded.config.retry.jitter_seed
    assert seed is not None and seed != expected.retry.jitter_seed  # from os.urandom each time
    assert loaded.config == dataclasses.replace(expected, retry=loaded.config.retry)
    assert dataclasses.replace(loaded.config.retry, jitter_seed=None) == RetryPolicy()


@pytest.mark.parametrize(
    ("flags", "policy"),
    [
        (["--retry-times", "0"], RetryPolicy(attempts=1, throttled_attempts=1)),
        (["--retry-times", "7"], RetryPolicy(attempts=8, throttled_attempts=8)),
        (["--retry-delay", "1500ms"], RetryPolicy(fixed_delay=1.5)),
        (
            ["--retry-times=1", "--retry-delay=2s"],
            RetryPolicy(attempts=2, throttled_attempts=2, fixed_delay=2.0),
        ),
    ],
)
def test_retry_flags_set_the_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flags: list[str], policy: RetryPolicy
) -> None:
    for name, value in home(tmp_path).items():
        monkeypatch.setenv(name, value)
    args = build_parser().parse_args(["inspect", *flags, "short.test/app:v1"])
    got = _settings(args).config.retry
    assert dataclasses.replace(got, jitter_seed=None) == policy


@pytest.mark.parametrize("flags", [["--retry-times", "-1"], ["--retry-delay", "-2s"]])
def test_negative_retry_flags_are_usage_errors(flags: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["inspect", *flags, "short.test/app:v1"])
    assert info.value.code == 2
