"""Run credential helpers (``docker-credential-<name> get``) for the core's credential search.

The core decides which helper to ask for which server
(:func:`sansio_registry.config.auth_json.search_credentials`); this module runs them, each
under a deadline, and remembers each answer for the life of a client, so one helper runs once
per server however many images are read.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from typing import Final

import trio

from sansio_registry.config.auth_json import CredentialSearch
from sansio_registry.config.credential_helpers import HelperQuery, parse_helper_reply
from sansio_registry.credentials import Credentials
from sansio_registry.errors import CredentialHelperError

__all__ = ["HELPER_DEADLINE", "CredentialHelpers"]

#: How long a helper may take before it is stopped: long enough for a cloud CLI that
#: refreshes a token, short enough that a helper waiting on a locked keyring is noticed.
HELPER_DEADLINE: Final = 30.0


class CredentialHelpers:
    """Answers the core's :class:`HelperQuery` values by running the helpers, once each."""

    def __init__(
        self, *, env: Mapping[str, str] | None = None, deadline: float = HELPER_DEADLINE
    ) -> None:
        self._env = dict(os.environ if env is None else env)
        self._deadline = deadline
        self._answers: dict[HelperQuery, Credentials | None] = {}
        self._locks: dict[HelperQuery, trio.Lock] = {}

    async def ask(self, query: HelperQuery) -> Credentials | None:
        """The helper's credentials for the server, ``None`` when it has none."""
        lock = self._locks.setdefault(query, trio.Lock())
        async with lock:  # concurrent lookups of one server run the helper once
            if query not in self._answers:
                self._answers[query] = await self._run(query)
            return self._answers[query]

    def answers(self) -> dict[HelperQuery, Credentials | None]:
        """Every answer so far (a copy)."""
        return dict(self._answers)

    async def search(self, search: CredentialSearch) -> Credentials | None:
        """Drive one credential search to its result."""
        answer: Credentials | None = None
        try:
            while True:
                query = search.send(answer)
                answer = await self.ask(query)
        except StopIteration as done:
            result: Credentials | None = done.value
            return result

    async def _run(self, query: HelperQuery) -> Credentials | None:
        program = shutil.which(query.program, path=self._env.get("PATH", os.defpath))
        if program is None:
            raise CredentialHelperError(f"credential helper {query.program} not found in $PATH")
        with trio.move_on_after(self._deadline) as scope:
            try:
                done = await trio.run_process(
                    [program, "get"],
                    stdin=query.server.encode(),
                    capture_stdout=True,
                    capture_stderr=True,
                    check=False,
                    env=self._env,
                )
            except OSError as exc:
                raise CredentialHelperError(
                    f"credential helper {query.program} could not run: {exc.strerror or exc}"
                ) from None
        if scope.cancelled_caught:
            raise CredentialHelperError(
                f"credential helper {query.program} did not answer within {self._deadline:g} s"
            )
        return parse_helper_reply(query, done.returncode, done.stdout, done.stderr)
