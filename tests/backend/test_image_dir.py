"""The pull destination on its own: what it accepts, what a roll-back removes, commit order."""

from __future__ import annotations

from pathlib import Path

import pytest

from trio_backend.image_dir import DIR_VERSION, DestinationError, ImageDirectory

OLD_BLOB = "a" * 64
NEW_BLOB = "b" * 64


def earlier_image(path: Path) -> dict[str, bytes]:
    path.mkdir()
    files = {
        OLD_BLOB: b"old layer",
        "manifest.json": b"old manifest",
        "version": DIR_VERSION,
        "signature-1": b"old signature",
        "README": b"mine",
    }
    for name, data in files.items():
        (path / name).write_bytes(data)
    return files


def contents(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in path.iterdir()}


def write_temp(destination: ImageDirectory, name: str, data: bytes) -> Path:
    temp = destination.temp_path(name)
    temp.write_bytes(data)
    return temp


def test_roll_back_removes_only_what_this_pull_created(tmp_path: Path) -> None:
    before = earlier_image(tmp_path / "img")
    destination = ImageDirectory(tmp_path / "img")
    destination.open()
    destination.place(write_temp(destination, OLD_BLOB, b"old layer"), OLD_BLOB)  # existed
    destination.place(write_temp(destination, NEW_BLOB, b"new layer"), NEW_BLOB)  # new
    destination.roll_back()
    assert contents(tmp_path / "img") == before


def test_roll_back_removes_the_directories_it_made(tmp_path: Path) -> None:
    destination = ImageDirectory(tmp_path / "a" / "b")
    destination.open()
    destination.place(write_temp(destination, NEW_BLOB, b"new layer"), NEW_BLOB)
    destination.roll_back()
    assert list(tmp_path.iterdir()) == []


def test_roll_back_keeps_a_made_directory_someone_else_wrote_into(tmp_path: Path) -> None:
    destination = ImageDirectory(tmp_path / "a" / "b")
    destination.open()
    (tmp_path / "a" / "b" / "theirs").write_bytes(b"x")
    destination.roll_back()
    assert contents(tmp_path / "a" / "b") == {"theirs": b"x"}


def test_commit_replaces_the_earlier_image_and_keeps_other_files(tmp_path: Path) -> None:
    earlier_image(tmp_path / "img")
    destination = ImageDirectory(tmp_path / "img")
    destination.open()
    destination.place(write_temp(destination, NEW_BLOB, b"new layer"), NEW_BLOB)
    destination.commit(b"new manifest", {NEW_BLOB})
    destination.roll_back()  # after a commit: nothing to undo
    assert contents(tmp_path / "img") == {
        NEW_BLOB: b"new layer",
        "manifest.json": b"new manifest",
        "version": DIR_VERSION,
        "README": b"mine",
    }


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"notes.txt": b"x"}, "not a containers image directory"),
        ({"version": b"Directory Transport Version: 1.0\n"}, "not a containers image directory"),
    ],
)
def test_open_refuses_other_folders(tmp_path: Path, files: dict[str, bytes], message: str) -> None:
    target = tmp_path / "d"
    target.mkdir()
    for name, data in files.items():
        (target / name).write_bytes(data)
    with pytest.raises(DestinationError, match=message):
        ImageDirectory(target).open()
    assert contents(target) == files


def test_open_refuses_a_file(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"x")
    with pytest.raises(DestinationError, match="not a directory"):
        ImageDirectory(target).open()
