"""Who may call the API: bearer tokens with roles, stored as SHA-256 digests, compared in constant time.

Roles, each including the ones before it: `viewer` (read), `responder` (trigger, ack, note, done,
skip, resolve, cancel), `approver` (approve, reject), `admin` (everything, including reloading
runbooks). `alertmanager` may only post alerts. Tokens come from the settings (digests only) and
from the database, where `handrail serve` stores the two it generates on a first start with none:
nothing that changes anything is ever open without a token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["ROLES", "Identity", "TokenRegistry", "digest", "new_token"]

ROLES = ("viewer", "responder", "approver", "admin")
ALERTMANAGER = "alertmanager"


def digest(token: str) -> str:
    """The SHA-256 of a token, as stored (tokens are 256-bit random, so a fast hash is enough)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(prefix: str = "hr") -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"


@dataclass(frozen=True, slots=True)
class Identity:
    """Who made a request: the token's name and role."""

    name: str
    role: str

    def may(self, role: str) -> bool:
        """Whether this identity has `role` (or a higher one); `alertmanager` only has itself."""
        if self.role == ALERTMANAGER or role == ALERTMANAGER:
            return self.role in (role, "admin")
        return ROLES.index(self.role) >= ROLES.index(role)


@dataclass(frozen=True, slots=True)
class _Entry:
    name: str
    role: str
    sha256: str


class TokenRegistry:
    """Finds the identity of a presented token among the configured and stored digests."""

    def __init__(self, entries: Iterable[tuple[str, str, str]]) -> None:
        self._entries = [_Entry(name, role, sha) for name, role, sha in entries]

    @property
    def empty(self) -> bool:
        return not self._entries

    def role_of(self, name: str) -> str | None:
        """The role of the token named `name` (for identities that arrive without a token, from Slack)."""
        return next((entry.role for entry in self._entries if entry.name == name), None)

    def identify(self, token: str) -> Identity | None:
        return self.identify_digest(digest(token))

    def identify_digest(self, presented: str) -> Identity | None:
        """The identity whose token has this SHA-256 digest (console sessions carry the digest, not the token)."""
        found: Identity | None = None
        for entry in self._entries:  # no early exit: the time taken does not depend on which matched
            if hmac.compare_digest(presented, entry.sha256):
                found = Identity(entry.name, entry.role)
        return found
