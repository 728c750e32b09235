"""The destination of ``pull``: a directory in skopeo's ``dir:`` layout, written safely.

Which directories may be written is containers/image's rule for its ``dir:`` transport: a
missing or empty directory, or one holding an image written before, recognised by its
``version`` file (exactly :data:`DIR_VERSION`). Anything else is refused before a byte is
written, as ``skopeo copy`` refuses it ("not a containers image directory").

Nothing of someone else's is lost: blobs land under temporary names and are renamed once
verified; ``version`` and then ``manifest.json`` are written after every blob, and an earlier
image stays complete until ``manifest.json`` is replaced in one rename, after which only
blobs and signatures of the old image (names of the layout) are removed. A pull that fails
or is cancelled before that removes exactly the files and directories it created. Every
local file-system error is a :class:`DestinationError` of one line.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Final, final

__all__ = ["DIR_VERSION", "DestinationError", "ImageDirectory", "local_errors"]

DIR_VERSION: Final = b"Directory Transport Version: 1.1\n"
MANIFEST: Final = "manifest.json"
VERSION: Final = "version"
#: Names the layout gives to an image's blobs and signatures (removed when overwriting).
_LAYOUT_NAME: Final = re.compile(r"[0-9a-f]{64}|[0-9a-f]{128}|signature-[0-9]+")


class DestinationError(Exception):
    """The destination directory cannot be used or written; the message is one line."""


@contextmanager
def local_errors(action: str, path: Path) -> Iterator[None]:
    """Turn an ``OSError`` inside the block into a one-line :class:`DestinationError`."""
    try:
        yield
    except OSError as exc:
        reason = (exc.strerror or str(exc) or type(exc).__name__).lower()
        raise DestinationError(f"{action} {path}: {reason}") from exc


@final
class ImageDirectory:
    """One pull's writes into ``path``; :meth:`open` first, then :meth:`commit` or
    :meth:`roll_back`. Synchronous: the caller runs these in a worker thread (rolling back
    may also run while a task is being cancelled)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._created_dirs: list[Path] = []
        self._created_files: list[Path] = []
        self._committed = False

    def open(self) -> None:
        """Check that the directory may be written, creating it when missing.

        Raises:
            DestinationError: not a directory, not empty and not an image directory, or a
                file-system error.
        """
        with local_errors("reading", self.path):
            try:
                entries = list(self.path.iterdir())
            except FileNotFoundError:
                self._make_dirs()
                return
            except NotADirectoryError:
                raise DestinationError(f"{self.path} exists and is not a directory") from None
            if not entries:
                return
            try:
                version = (self.path / VERSION).read_bytes()
            except (FileNotFoundError, IsADirectoryError):
                version = b""
        if version != DIR_VERSION:
            raise DestinationError(
                f"{self.path} is not empty and not a containers image directory (no version "
                f"file of the dir: layout); refusing to overwrite its files"
            )

    def _make_dirs(self) -> None:
        missing: list[Path] = []
        here = self.path
        while not here.exists() and here != here.parent:
            missing.append(here)
            here = here.parent
        for directory in reversed(missing):
            with local_errors("creating", directory):
                directory.mkdir()
            self._created_dirs.append(directory)

    def temp_path(self, name: str) -> Path:
        """A fresh hidden name next to ``name`` (``.<name>.partial-<hex>``)."""
        return self.path / f".{name}.partial-{secrets.token_hex(4)}"

    def place(self, temp: Path, name: str) -> None:
        """Rename a finished temporary file to ``name`` (remembered if it is new)."""
        final = self.path / name
        existed = final.exists()
        with local_errors("writing", final):
            temp.replace(final)
        if not existed:
            self._created_files.append(final)

    def commit(self, manifest: bytes, blob_names: set[str]) -> None:
        """Write ``version``, then ``manifest.json`` (the step that completes the image), then
        drop the previous image's other blobs and signatures."""
        self._write(VERSION, DIR_VERSION)
        self._write(MANIFEST, manifest)
        self._committed = True
        with local_errors("reading", self.path):
            names = [entry.name for entry in self.path.iterdir()]
        for name in names:
            if _LAYOUT_NAME.fullmatch(name) and name not in blob_names:
                with local_errors("removing", self.path / name):
                    (self.path / name).unlink(missing_ok=True)

    def _write(self, name: str, data: bytes) -> None:
        temp = self.temp_path(name)
        try:
            with local_errors("writing", temp):
                temp.write_bytes(data)
            self.place(temp, name)
        finally:
            temp.unlink(missing_ok=True)

    def roll_back(self) -> None:
        """Remove what this pull created (nothing once committed); never raises."""
        if self._committed:
            return
        for file in reversed(self._created_files):
            with suppress(OSError):
                file.unlink(missing_ok=True)
        for directory in reversed(self._created_dirs):
            try:
                directory.rmdir()
            except OSError:
                break  # not empty (someone else's file appeared): keep it and its parents
