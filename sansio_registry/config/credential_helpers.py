"""Credential helpers (``docker-credential-<name>``): what to ask, and what the answer means.

The protocol (github.com/docker/docker-credential-helpers): run ``docker-credential-<name>
get`` with the server on stdin; it prints ``{"ServerURL", "Username", "Secret"}``. The
username ``<token>`` means the secret is an identity token (an OAuth2 refresh token). Running
the program is the shell's job; the core decides which helper to ask for which server
(:func:`sansio_registry.config.auth_json.search_credentials`) and reads its answer here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import msgspec

from sansio_registry.credentials import Credentials
from sansio_registry.errors import CredentialHelperError
from sansio_registry.json_decode import decode_json

__all__ = ["DOCKER_HUB_SERVER", "HelperQuery", "parse_helper_reply"]

#: The server name the Docker CLI stores Docker Hub credentials under.
DOCKER_HUB_SERVER: Final = "https://index.docker.io/v1/"
#: The username that marks the secret as an identity token.
IDENTITY_TOKEN_USER: Final = "<token>"
#: The text helpers print (with a non-zero exit) when they hold nothing for the server.
NOT_FOUND_TEXT: Final = "credentials not found in native keychain"
#: A helper's answer is a few hundred bytes; read no more than this.
MAX_HELPER_OUTPUT: Final = 64 * 1024


@dataclass(frozen=True, slots=True)
class HelperQuery:
    """Ask credential helper ``helper`` for ``server``'s credentials."""

    helper: str
    server: str

    @property
    def program(self) -> str:
        """The executable to run: ``docker-credential-<helper>``."""
        return f"docker-credential-{self.helper}"


class _Reply(msgspec.Struct, frozen=True):
    Username: str = ""
    Secret: str = ""


_decoder: Final = msgspec.json.Decoder(_Reply)


def parse_helper_reply(
    query: HelperQuery, exit_status: int, stdout: bytes, stderr: bytes = b""
) -> Credentials | None:
    """The credentials a finished ``get`` gave, ``None`` when it holds none for the server.

    Any other failure is a :class:`CredentialHelperError` naming the helper.
    """
    said = (stdout + b"\n" + stderr).decode("utf-8", "replace").strip()
    if exit_status != 0:
        if NOT_FOUND_TEXT in said:
            return None
        first_line = said.splitlines()[0][:200] if said else f"exit status {exit_status}"
        raise CredentialHelperError(f"credential helper {query.program} failed: {first_line}")
    try:
        reply = decode_json(_decoder, stdout)
    except msgspec.DecodeError:
        raise CredentialHelperError(
            f"credential helper {query.program} printed something that is not its JSON answer"
        ) from None
    if not reply.Username and not reply.Secret:
        return None  # some helpers (pass) answer an unknown server with empty fields
    if reply.Username == IDENTITY_TOKEN_USER:
        return Credentials(identity_token=reply.Secret)
    return Credentials(username=reply.Username, password=reply.Secret)
