"""What a caller (or auth.json, or a credential helper) gives for one registry.

A module of its own so that reading configuration does not import the token flow
(:mod:`sansio_registry.auth` re-exports it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Credentials"]


@dataclass(frozen=True, slots=True)
class Credentials:
    """What the caller (or auth.json) gives for one registry; secrets never appear in repr.

    ``identity_token`` selects the OAuth2 refresh-token flow; ``registry_token`` is a bearer
    token the caller already has, sent as is (nothing is fetched).
    """

    username: str = ""
    password: str = field(default="", repr=False)
    identity_token: str = field(default="", repr=False)
    registry_token: str = field(default="", repr=False)

    def __repr__(self) -> str:
        def shown(v: str) -> str:
            return "<set>" if v else "''"

        return (
            f"Credentials(username={self.username!r}, password={shown(self.password)}, "
            f"identity_token={shown(self.identity_token)}, "
            f"registry_token={shown(self.registry_token)})"
        )

    def __bool__(self) -> bool:
        return bool(self.username or self.password or self.identity_token or self.registry_token)
