"""The mutable memory of one client: pings, bearer tokens, verified answers, the latest time.

Plain data, shared by the flows of one session; it imports no flow so every flow (and the
session) can import it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sansio_registry.auth import Challenge, TokenCache
from sansio_registry.recent_cache import RecentCache

__all__ = ["PingResult", "RegistryState"]


@dataclass(frozen=True, slots=True)
class PingResult:
    """What a registry said about itself on ``/v2/``."""

    scheme: str
    challenges: tuple[Challenge, ...]
    supports_signatures: bool


@dataclass(slots=True)
class RegistryState:
    """The mutable memory of one client: bearer tokens, successful pings, verified answers.

    Only successful pings are remembered: a registry that was down a minute ago is asked again.

    Verified content lives here rather than in a driver: the state is already shared by every
    flow of one client, so a batch of flows (``inspect`` of 200 images) reuses it with any
    driver, and the core alone decides what is safe to reuse. Config blobs are addressed by
    their digest, hence immutable: kept once their digest was checked, keyed by registry
    host and repository too, so one repository's access never answers for another's. Only
    verified data is kept: tag lists (no digest, and tags move) are not, though identical
    listings in flight at once share one answer (``Request.coalesce_key``). Manifests asked
    for by digest are kept the same way, once checked against that digest. Each cache is
    bounded (``recent_cache.MAX_CACHED_ENTRIES``, ``MAX_CACHED_BYTES``).
    """

    tokens: TokenCache = field(default_factory=TokenCache)
    pings: dict[tuple[str, bool], PingResult] = field(default_factory=dict)
    #: Verified small blobs (configs) by (host, repository, digest).
    blobs: RecentCache[bytes] = field(default_factory=RecentCache)
    #: Manifests asked for by digest and verified against it, as (body, media type), by
    #: (host, repository, digest); a tag's manifest is never kept (tags move).
    manifests: RecentCache[tuple[bytes, str]] = field(default_factory=RecentCache)
    #: The latest driver time the flows of this state have seen (never goes back); token
    #: expiry is judged by it. Drivers do not write it: :meth:`observe` is the flows' clock.
    now: float = 0.0

    def observe(self, at: float) -> None:
        """Learn a time from the driver's clock (``Flow.begin(at=…)``, ``received_at``)."""
        if at > self.now:
            self.now = at
