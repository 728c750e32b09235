"""A small least-recently-used memory of verified answers, bounded by entries and bytes.

It lives in :class:`~sansio_registry.state.RegistryState`, the one piece of memory every flow
of a client already shares, so the core decides what may be reused and every driver gets
the saving without doing anything. It stays pure: ages are judged by the flows' own clock
(``RegistryState.now``), never read from the system.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Final, Generic, TypeVar

__all__ = ["MAX_CACHED_BYTES", "MAX_CACHED_ENTRIES", "RecentCache"]

#: Bytes one cache holds (verified config blobs).
MAX_CACHED_BYTES: Final = 16 * 1024 * 1024
#: Entries one cache holds.
MAX_CACHED_ENTRIES: Final = 512

V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class _Entry(Generic[V]):
    value: V
    size: int
    expires_at: float | None


@dataclass(slots=True)
class RecentCache(Generic[V]):
    """Key → value, oldest use dropped first past ``max_entries`` or ``max_bytes``.

    A value larger than ``max_bytes`` is not kept. An entry stored with a ``lifetime`` is
    forgotten once ``now`` passes it; without one it never expires (content-addressed data).
    """

    max_entries: int = MAX_CACHED_ENTRIES
    max_bytes: int = MAX_CACHED_BYTES
    _entries: OrderedDict[Hashable, _Entry[V]] = field(default_factory=OrderedDict, repr=False)
    _bytes: int = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size(self) -> int:
        """Bytes held (as the callers counted them)."""
        return self._bytes

    def get(self, key: Hashable, *, now: float) -> V | None:
        """The value for ``key``, or ``None`` if absent or expired."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires_at is not None and now >= entry.expires_at:
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry.value

    def put(
        self, key: Hashable, value: V, *, size: int, now: float, lifetime: float | None = None
    ) -> None:
        """Remember ``value`` (``size`` bytes), for ``lifetime`` seconds if given."""
        if key in self._entries:
            self._drop(key)
        if size > self.max_bytes or self.max_entries < 1:
            return
        expires_at = None if lifetime is None else now + lifetime
        self._entries[key] = _Entry(value, size, expires_at)
        self._bytes += size
        while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))

    def _drop(self, key: Hashable) -> None:
        self._bytes -= self._entries.pop(key).size
