"""Loading registries.d from disk: directory choice, file selection and order, built-in default."""

from __future__ import annotations

from pathlib import Path

import pytest

from sansio_registry.config.registries_d import RegistriesD, Section
from sansio_registry.errors import ConfigError
from sansio_registry.reference import ImageRef
from trio_backend.registries_d_files import (
    default_lookaside_dir,
    load_registries_d,
    registries_d_dir,
)


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_every_yaml_file_directly_inside_is_merged(tmp_path: Path) -> None:
    d = tmp_path / "registries.d"
    write(d / "b.yaml", b"docker:\n  r.example:\n    lookaside: https://b/\n")
    write(d / "a.yaml", b"default-docker:\n  lookaside: https://a/\n")
    write(d / "c.yml", b"docker:\n  yml.example:\n    lookaside: https://ignored/\n")
    write(d / "d.yaml.bak", b"not: [valid\n")
    write(d / "sub" / "e.yaml", b"docker:\n  sub.example:\n    lookaside: https://ignored/\n")
    config, default = load_registries_d(explicit_dir=str(d), env={"HOME": "/nonexistent"}, euid=7)
    assert config == RegistriesD(
        default_docker=Section(lookaside="https://a/"),
        docker={"r.example": Section(lookaside="https://b/")},
    )
    assert default == "file:///nonexistent/.local/share/containers/sigstore"


def test_files_are_merged_in_name_order(tmp_path: Path) -> None:
    d = tmp_path / "d"
    write(d / "20-second.yaml", b"docker:\n  r.example:\n    lookaside: https://2/\n")
    write(d / "10-first.yaml", b"docker:\n  r.example:\n    lookaside: https://1/\n")
    with pytest.raises(ConfigError) as info:
        load_registries_d(explicit_dir=str(d), env={}, euid=0)
    assert str(info.value) == (
        'Error parsing signature storage configuration: "docker" namespace "r.example" '
        f'defined both in "{d / "10-first.yaml"}" and "{d / "20-second.yaml"}"'
    )


def test_default_docker_in_two_files(tmp_path: Path) -> None:
    d = tmp_path / "d"
    write(d / "a.yaml", b"default-docker:\n  lookaside: https://1/\n")
    write(d / "b.yaml", b"default-docker:\n  sigstore-staging: file:///2\n")
    with pytest.raises(ConfigError) as info:
        load_registries_d(explicit_dir=str(d), env={}, euid=0)
    assert str(info.value) == (
        'Error parsing signature storage configuration: "default-docker" defined both in '
        f'"{d / "a.yaml"}" and "{d / "b.yaml"}"'
    )


def test_yaml_error_names_the_file(tmp_path: Path) -> None:
    bad = write(tmp_path / "d" / "bad.yaml", b"docker: [\n")
    with pytest.raises(ConfigError) as info:
        load_registries_d(explicit_dir=str(tmp_path / "d"), env={}, euid=0)
    assert str(info.value).startswith(f"parsing {bad}: ")


def test_missing_dir_is_empty(tmp_path: Path) -> None:
    config, default = load_registries_d(explicit_dir=str(tmp_path / "nope"), env={}, euid=0)
    assert config == RegistriesD()
    assert default == "file:///var/lib/containers/sigstore"
    ref = ImageRef.parse("quay.io/a/b:1")
    assert config.lookaside_base(ref, write=False, default_dir=default) == default


def test_a_directory_named_yaml_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "d" / "odd.yaml").mkdir(parents=True)
    with pytest.raises(ConfigError) as info:
        load_registries_d(explicit_dir=str(tmp_path / "d"), env={}, euid=0)
    assert str(info.value) == f"read {tmp_path / 'd' / 'odd.yaml'}: is a directory"


def test_dir_that_is_a_file_is_an_error(tmp_path: Path) -> None:
    f = write(tmp_path / "file", b"")
    with pytest.raises(ConfigError) as info:
        load_registries_d(explicit_dir=str(f), env={}, euid=0)
    assert str(info.value) == f"open {f}: not a directory"


def test_user_dir_replaces_the_system_dir(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {"HOME": str(home)}
    assert registries_d_dir(None, env) == "/etc/containers/registries.d"
    user = home / ".config" / "containers" / "registries.d"
    user.mkdir(parents=True)
    assert registries_d_dir(None, env) == str(user)
    assert registries_d_dir(str(tmp_path / "explicit"), env) == str(tmp_path / "explicit")
    write(user / "u.yaml", b"docker:\n  r.example:\n    lookaside: https://user/\n")
    config, _ = load_registries_d(env=env, euid=1000)
    assert config == RegistriesD(docker={"r.example": Section(lookaside="https://user/")})


def test_builtin_default_lookaside() -> None:
    assert default_lookaside_dir({"HOME": "/root"}, 0) == "file:///var/lib/containers/sigstore"
    assert default_lookaside_dir({"HOME": "/home/u"}, 1000) == (
        "file:///home/u/.local/share/containers/sigstore"
    )
    assert default_lookaside_dir({"HOME": "/home/a b/"}, 1000) == (
        "file:///home/a%20b/.local/share/containers/sigstore"
    )


def test_rootless_uid_env_decides_the_default(tmp_path: Path) -> None:
    missing = str(tmp_path / "none")
    env = {"HOME": "/home/u", "_CONTAINERS_ROOTLESS_UID": "1000"}
    assert load_registries_d(explicit_dir=missing, env=env)[1] == (
        "file:///home/u/.local/share/containers/sigstore"
    )
    env["_CONTAINERS_ROOTLESS_UID"] = "0"
    assert load_registries_d(explicit_dir=missing, env=env)[1] == (
        "file:///var/lib/containers/sigstore"
    )
    # An explicit euid wins.
    assert load_registries_d(explicit_dir=missing, env=env, euid=5)[1] == (
        "file:///home/u/.local/share/containers/sigstore"
    )
