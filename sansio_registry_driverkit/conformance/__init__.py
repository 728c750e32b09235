"""The conformance suite every IO backend must pass: standard transcripts over loopback sockets.

A backend's own test runs each case with a ``run_flow`` callable built on its driver::

    @pytest.mark.parametrize("case", conformance_cases(), ids=str)
    def test_my_backend(case: Case) -> None:
        with MyConnections() as conns:
            case.run(lambda flow, state, abort_after: my_run_flow(conns, flow, state, abort_after))

:data:`RunFlow` is ``run_flow(flow, state, abort_after) -> (value, body)``: drive ``flow`` to
its end from ``flow.begin(at=clock)`` (``state`` is the flows' own: drivers leave it alone),
return its value and the bytes of the body kept for a final ``Open`` read to the end
(``None`` when the flow did not end on one). Errors of the flow, or of reading the kept body,
propagate. With ``abort_after=k`` the driver performs ``k`` effects and then stops as it
would when cancelled (:func:`stop_after` helps): ``flow.abort()`` must be called and
``run_flow`` must return.

Each case starts a scripted server (threads, stdlib sockets and h11; origins ``A`` and ``B``
on free 127.0.0.1 ports, plain HTTP; a TLS ClientHello is answered by closing the connection,
so the insecure https→http fallback runs), drives flows built with
``ClientConfig(tls_verify=False)``, and fails with :class:`ConformanceFailure` carrying an
expected/actual transcript diff. The cases, by name: ``anonymous_manifest``, ``token_dance``,
``unauthorized_without_challenge``, ``redirect_across_origins``, ``open_error_body``,
``open_error_body_cut``, ``body_over_cap``, ``transport_error_mid_body``, ``abort_everywhere``,
``sleep_and_429``, ``tls_verify``, ``file_url`` (each :class:`Case` has a one-line ``doc``).

The modules, in reading order: ``server`` (the loopback server), ``report`` (expected vs
actual, the diff), ``runner`` (running ``run_flow`` under a deadline, :func:`stop_after`),
``image`` (the image the cases serve), ``cases_exchange``, ``cases_bodies``, ``cases_driver``
(the cases) and ``suite`` (:func:`conformance_cases`).
"""

from sansio_registry_driverkit.conformance.report import ConformanceFailure, Want
from sansio_registry_driverkit.conformance.runner import RunFlow, stop_after
from sansio_registry_driverkit.conformance.server import Answer, LoopbackServer, Seen
from sansio_registry_driverkit.conformance.suite import Case, conformance_cases

__all__ = [
    "Answer",
    "Case",
    "ConformanceFailure",
    "LoopbackServer",
    "RunFlow",
    "Seen",
    "Want",
    "conformance_cases",
    "stop_after",
]
