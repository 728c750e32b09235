"""The cases, in a stable order, as values a backend's test can parametrize over."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sansio_registry_driverkit.conformance.cases_bodies import (
    abort_everywhere,
    body_over_cap,
    open_error_body,
    open_error_body_cut,
    transport_error_mid_body,
)
from sansio_registry_driverkit.conformance.cases_driver import file_url, sleep_and_429, tls_verify
from sansio_registry_driverkit.conformance.cases_exchange import (
    anonymous_manifest,
    redirect_across_origins,
    token_dance,
    unauthorized_without_challenge,
)
from sansio_registry_driverkit.conformance.runner import RunFlow

__all__ = ["Case", "conformance_cases"]


@dataclass(frozen=True, slots=True)
class Case:
    """One conformance case; ``run(run_flow)`` raises :class:`ConformanceFailure` on a miss."""

    name: str
    doc: str
    body: Callable[[RunFlow], None] = field(repr=False)

    def run(self, run_flow: RunFlow) -> None:
        """Run the case against a driver."""
        self.body(run_flow)

    def __str__(self) -> str:
        return self.name


def conformance_cases() -> list[Case]:
    """Every case, in a stable order (names are usable as pytest ids)."""
    table: list[tuple[Callable[[RunFlow], None], str]] = [
        (anonymous_manifest, "ping over https refused, then http; manifest bytes as served"),
        (token_dance, "bearer token from a realm on origin B; the token is reused"),
        (unauthorized_without_challenge, "a 401 with no challenge: Unauthorized, nothing sent"),
        (redirect_across_origins, "redirects are the core's; origin B gets no Authorization"),
        (open_error_body, "a non-2xx Open is answered with its body read"),
        (open_error_body_cut, "a non-2xx Open body longer than max_body is cut at max_body"),
        (body_over_cap, "bodies over max_body fail with BodyTooLarge, at the limit pass"),
        (transport_error_mid_body, "a connection closed mid-body is a TransportError"),
        (abort_everywhere, "abort after every number of effects: ABORTED, no hang"),
        (sleep_and_429, "Sleep waits in the driver's clock; a 429 is retried; abort at a Sleep"),
        (tls_verify, "tls_verify=True rejects an untrusted certificate; False accepts it"),
        (file_url, "file:// requests are answered from the file system"),
    ]
    return [Case(fn.__name__.lstrip("_"), doc, fn) for fn, doc in table]
