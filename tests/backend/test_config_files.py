"""Loading registries.conf from disk: discovery, drop-in order and merge, error texts."""

from __future__ import annotations

from pathlib import Path

import pytest

from sansio_registry.config.registries_conf import Registry
from sansio_registry.errors import ConfigError, RegistryBlocked
from sansio_registry.reference import ImageRef
from trio_backend.config_files import load_registries_conf

MAIN = b"""
unqualified-search-registries = ["docker.io"]
credential-helpers = ["pass"]

[[registry]]
prefix = "shared.example"
location = "from-main.example"

[[registry]]
location = "main-only.example"
insecure = true
"""


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_explicit_file_and_dir_with_drop_ins_in_lexical_order(tmp_path: Path) -> None:
    main = write(tmp_path / "registries.conf", MAIN)
    d = tmp_path / "conf.d"
    write(
        d / "20-b.conf", b'[[registry]]\nprefix = "shared.example"\nlocation = "from-20.example"\n'
    )
    write(
        d / "10-a.conf", b'[[registry]]\nprefix = "shared.example"\nlocation = "from-10.example"\n'
    )
    write(d / "30-c.conf", b'unqualified-search-registries = ["quay.io"]\n')
    write(d / "ignored.txt", b"this is not toml [[[")
    write(d / "sub" / "nested.conf", b"not read either [[[")
    (d / "dir.conf").mkdir()
    conf = load_registries_conf(explicit_file=str(main), explicit_dir=str(d), env={})
    assert conf.registries == (
        Registry(prefix="main-only.example", location="main-only.example", insecure=True),
        Registry(prefix="shared.example", location="from-20.example"),
    )
    assert conf.unqualified_search_registries == ("quay.io",)
    assert conf.credential_helpers == ("pass",)
    assert conf.blocked_in == f"{main} or {d}"


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.conf"
    with pytest.raises(ConfigError) as info:
        load_registries_conf(explicit_file=str(missing), explicit_dir=str(tmp_path), env={})
    assert str(info.value) == (
        f'loading registries configuration "{missing}": open {missing}: no such file or directory'
    )


def test_env_variable_names_the_main_file(tmp_path: Path) -> None:
    main = write(
        tmp_path / "env.conf", b'[[registry]]\nlocation = "env.example"\nblocked = true\n'
    )
    conf = load_registries_conf(
        explicit_dir=str(tmp_path / "none.d"),
        env={"CONTAINERS_REGISTRIES_CONF": str(main), "HOME": str(tmp_path / "home")},
    )
    with pytest.raises(RegistryBlocked) as info:
        conf.check_not_blocked(ImageRef.parse("env.example/x"))
    assert str(info.value) == f"registry env.example is blocked in {main} or {tmp_path / 'none.d'}"

    missing = tmp_path / "missing.conf"
    with pytest.raises(ConfigError, match="no such file or directory"):
        load_registries_conf(
            explicit_dir=str(tmp_path), env={"CONTAINERS_REGISTRIES_CONF": str(missing)}
        )


def test_explicit_file_wins_over_env(tmp_path: Path) -> None:
    main = write(tmp_path / "a.conf", b'[[registry]]\nlocation = "explicit.example"\n')
    conf = load_registries_conf(
        explicit_file=str(main),
        explicit_dir=str(tmp_path / "none.d"),
        env={"CONTAINERS_REGISTRIES_CONF": str(tmp_path / "missing.conf")},
    )
    assert [r.prefix for r in conf.registries] == ["explicit.example"]


def test_user_file_replaces_system_file_and_dirs(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write(home / ".config/containers/registries.conf", MAIN)
    write(
        home / ".config/containers/registries.conf.d/1.conf",
        b'[[registry]]\nlocation = "user-drop-in.example"\n',
    )
    conf = load_registries_conf(env={"HOME": str(home)})
    assert [r.prefix for r in conf.registries] == [
        "main-only.example",
        "shared.example",
        "user-drop-in.example",
    ]
    assert conf.blocked_in == (
        f"{home}/.config/containers/registries.conf or {home}/.config/containers/registries.conf.d"
    )


def test_missing_drop_in_dir_and_empty_main_are_fine(tmp_path: Path) -> None:
    main = write(tmp_path / "empty.conf", b"")
    conf = load_registries_conf(
        explicit_file=str(main), explicit_dir=str(tmp_path / "does-not-exist"), env={}
    )
    assert conf.registries == ()
    assert conf.credential_helpers == ("containers-auth.json",)


def test_drop_in_errors_name_the_drop_in(tmp_path: Path) -> None:
    main = write(tmp_path / "main.conf", b"")
    d = tmp_path / "d"
    bad = write(d / "1.conf", b'[registries.block]\nregistries = ["x.example"]\n')
    with pytest.raises(ConfigError) as info:
        load_registries_conf(explicit_file=str(main), explicit_dir=str(d), env={})
    assert str(info.value) == (
        f'loading drop-in registries configuration "{bad}": '
        "registry must be in v2 format but is in v1"
    )
    bad.write_bytes(b"[[registry]\n")
    with pytest.raises(ConfigError, match="drop-in registries configuration"):
        load_registries_conf(explicit_file=str(main), explicit_dir=str(d), env={})


def test_main_file_validation_error_names_it(tmp_path: Path) -> None:
    main = write(tmp_path / "main.conf", b'[[registry]]\nlocation = "https://x.example"\n')
    with pytest.raises(ConfigError) as info:
        load_registries_conf(explicit_file=str(main), explicit_dir=str(tmp_path / "d"), env={})
    assert str(info.value) == (
        f'loading registries configuration "{main}": '
        "invalid location 'https://x.example': URI schemes are not supported"
    )


def test_main_file_that_is_a_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^loading registries configuration"):
        load_registries_conf(explicit_file=str(tmp_path), explicit_dir=str(tmp_path), env={})
