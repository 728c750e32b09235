"""How often and how long the core resends a request: a value, with no clock and no randomness.

A :class:`RetryPolicy` lives on :class:`~sansio_registry.client_config.ClientConfig`; the
exchange layer (:func:`sansio_registry.flows.exchange.retrying`) applies it and waits with
``Sleep`` effects, so a retry never outlives the caller's cancel scope.

Jitter is data, not randomness: the shell passes ``jitter_seed`` (e.g. from ``os.urandom``);
each wait's spread is derived from the seed, the request and the retry number with SHA-256.
The same seed gives the same waits (tests replay them), different clients spread apart, and
the core stays a pure function of its inputs. ``jitter_seed=None`` means no spread.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final

__all__ = ["BACKOFF_STATUSES", "THROTTLE_STATUSES", "RetryPolicy"]

#: Statuses whose ``Retry-After`` is honoured (RFC 9110 §10.2.3, RFC 6585 §4).
THROTTLE_STATUSES: Final = frozenset({429, 503})
#: Server failures resent with back-off (502 and 504 are usually a proxy's passing trouble).
BACKOFF_STATUSES: Final = frozenset({500, 502, 503, 504})

#: A jittered wait is the plain wait times 1 + JITTER * u, for u in [0, 1).
JITTER: Final = 0.5


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """When a retry-safe request (GET, HEAD, a token request) is sent again, and how long after.

    Attributes:
        attempts: sends in all for a 5xx answer or a connection that failed before any
            response byte (``TransportError.before_response``); 1 means never resend.
        throttled_attempts: sends in all for a 429 answer (registries rate-limit in bursts,
            so it is more patient by default, as containers/image is with 5).
        first_delay: the first back-off wait in seconds; each next one doubles, and a
            ``Retry-After`` the registry sent counts as the wait to double.
        max_delay: no wait is longer. A ``Retry-After`` asking for more fails at once.
        fixed_delay: when set, every back-off wait is this long (skopeo's ``--retry-delay``);
            ``Retry-After`` is still honoured.
        jitter_seed: spreads back-off waits (never a ``Retry-After``) by up to 50 %, derived
            from this seed; ``None`` for exact waits.
    """

    attempts: int = 3
    throttled_attempts: int = 5
    first_delay: float = 1.0
    max_delay: float = 60.0
    fixed_delay: float | None = None
    jitter_seed: int | None = None

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.throttled_attempts < 1:
            raise ValueError("a retry policy needs at least one attempt")
        delays = (self.first_delay, self.max_delay, self.fixed_delay or 0.0)
        if min(delays) < 0:
            raise ValueError("retry delays cannot be negative")

    @classmethod
    def of_flags(cls, *, times: int | None = None, delay: float | None = None) -> RetryPolicy:
        """The policy skopeo's ``--retry-times N`` / ``--retry-delay D`` describe.

        ``times`` retries after the first attempt, for every retried failure; ``delay`` a
        fixed wait instead of exponential back-off. Either left ``None`` keeps the default.
        """
        if times is None:
            return cls(fixed_delay=delay)
        if times < 0:
            raise ValueError("the number of retries cannot be negative")
        return cls(attempts=times + 1, throttled_attempts=times + 1, fixed_delay=delay)

    def limit(self, status: int | None) -> int:
        """Sends in all for an answer with ``status`` (``None``: no answer at all)."""
        return self.throttled_attempts if status == 429 else self.attempts

    def backoff(self, base: float, *, retry: int, key: str) -> float:
        """The wait before retry number ``retry`` when the registry named none.

        ``base`` is the doubled previous wait; ``key`` names the request, so concurrent
        requests of one client spread apart too.
        """
        if self.fixed_delay is not None:
            return min(self.fixed_delay, self.max_delay)
        return min(base * (1.0 + JITTER * self._spread(retry, key)), self.max_delay)

    def _spread(self, retry: int, key: str) -> float:
        """A number in [0, 1) fixed by the seed, the request and the retry (0 without seed)."""
        if self.jitter_seed is None:
            return 0.0
        material = f"{self.jitter_seed}\0{key}\0{retry}".encode(errors="surrogateescape")
        digest = hashlib.sha256(material).digest()
        return int.from_bytes(digest[:8], "big") / 2**64
