"""The mutable memory of one client: cached pings, bearer tokens and the latest time seen.

Plain data, shared by the flows of one session; it imports no flow so every flow (and the
session) can import it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sansio_registry.auth import Challenge, TokenCache

__all__ = ["PingResult", "RegistryState"]


@dataclass(frozen=True, slots=True)
class PingResult:
    """What a registry said about itself on ``/v2/``."""

    scheme: str
    challenges: tuple[Challenge, ...]
    supports_signatures: bool


@dataclass(slots=True)
class RegistryState:
    """The mutable memory of one client: bearer tokens and successful pings.

    Only successful pings are remembered: a registry that was down a minute ago is asked again.
    """

    tokens: TokenCache = field(default_factory=TokenCache)
    pings: dict[tuple[str, bool], PingResult] = field(default_factory=dict)
    #: The latest driver time the flows of this state have seen (never goes back); token
    #: expiry is judged by it. Drivers do not write it: :meth:`observe` is the flows' clock.
    now: float = 0.0

    def observe(self, at: float) -> None:
        """Learn a time from the driver's clock (``Flow.begin(at=…)``, ``received_at``)."""
        if at > self.now:
            self.now = at
