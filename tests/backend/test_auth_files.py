"""Reading auth files from disk (containers-auth.json(5)) in an isolated environment."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from sansio_registry.auth import Credentials
from sansio_registry.errors import ConfigError
from trio_backend.auth_files import load_auth_files, load_credentials


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def write(path: Path, auths: dict[str, object], *, legacy: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(auths if legacy else {"auths": auths}))
    return path


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "run").mkdir()
    return {"HOME": str(tmp_path / "home"), "XDG_RUNTIME_DIR": str(tmp_path / "run")}


def test_nothing_on_disk_means_no_credentials(env: dict[str, str]) -> None:
    assert load_auth_files(env=env) == ()
    assert load_credentials("example.com/app", env=env) is None


def test_search_order_runtime_then_config_then_docker_then_legacy(
    env: dict[str, str], tmp_path: Path
) -> None:
    home = Path(env["HOME"])
    write(home / ".dockercfg", {"https://example.com/v1/": {"auth": b64("legacy:4")}}, legacy=True)
    assert load_credentials("example.com/app", env=env) == Credentials("legacy", "4")
    write(home / ".docker" / "config.json", {"example.com": {"auth": b64("docker:3")}})
    assert load_credentials("example.com/app", env=env) == Credentials("docker", "3")
    write(home / ".config" / "containers" / "auth.json", {"example.com": {"auth": b64("xdg:2")}})
    assert load_credentials("example.com/app", env=env) == Credentials("xdg", "2")
    write(tmp_path / "run" / "containers" / "auth.json", {"example.com": {"auth": b64("run:1")}})
    assert load_credentials("example.com/app", env=env) == Credentials("run", "1")
    files = load_auth_files(env=env)
    assert [f.legacy for f in files] == [False, False, False, True]


def test_docker_config_env_var(env: dict[str, str], tmp_path: Path) -> None:
    write(tmp_path / "dc" / "config.json", {"example.com": {"auth": b64("dc:pw")}})
    write(Path(env["HOME"]) / ".docker" / "config.json", {"example.com": {"auth": b64("no:pw")}})
    env["DOCKER_CONFIG"] = str(tmp_path / "dc")
    assert load_credentials("example.com", env=env) == Credentials("dc", "pw")


def test_registry_auth_file_env_and_explicit_authfile(env: dict[str, str], tmp_path: Path) -> None:
    write(tmp_path / "run" / "containers" / "auth.json", {"example.com": {"auth": b64("run:1")}})
    from_env = write(tmp_path / "env.json", {"example.com": {"auth": b64("env:1")}})
    explicit = write(tmp_path / "explicit.json", {"example.com": {"auth": b64("opt:1")}})
    env["REGISTRY_AUTH_FILE"] = str(from_env)
    # REGISTRY_AUTH_FILE replaces the runtime-dir file
    assert load_credentials("example.com", env=env) == Credentials("env", "1")
    assert load_credentials("example.com", env=env, authfile=str(explicit)) == Credentials(
        "opt", "1"
    )


def test_missing_explicit_file_is_skipped(env: dict[str, str], tmp_path: Path) -> None:
    write(Path(env["HOME"]) / ".docker" / "config.json", {"example.com": {"auth": b64("d:1")}})
    got = load_credentials("example.com", env=env, authfile=str(tmp_path / "nope.json"))
    assert got == Credentials("d", "1")


def test_broken_file_errors_only_when_reached(env: dict[str, str], tmp_path: Path) -> None:
    write(tmp_path / "run" / "containers" / "auth.json", {"example.com": {"auth": b64("u:p")}})
    broken = Path(env["HOME"]) / ".docker" / "config.json"
    broken.parent.mkdir(parents=True)
    broken.write_text("{not json")
    assert load_credentials("example.com/app", env=env) == Credentials("u", "p")
    with pytest.raises(ConfigError) as info:
        load_credentials("other.example/app", env=env)
    assert str(broken) in str(info.value)


def test_unreadable_path_is_an_error_when_reached(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "run" / "containers" / "auth.json").mkdir(parents=True)  # a directory
    with pytest.raises(ConfigError, match=r"reading JSON file"):
        load_credentials("example.com", env=env)


def test_invalid_key_fails_before_any_file_is_read(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match=r"contains http\[s\]:// prefix"):
        load_credentials("https://example.com", env=env)


def test_helpers_are_recorded_for_the_cli(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "run" / "containers" / "auth.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"auths": {}, "credHelpers": {"example.com": "pass"}}))
    (f,) = load_auth_files(env=env)
    assert f.helpers == {"example.com": "pass"}
    assert load_credentials("example.com/app", env=env) is None
