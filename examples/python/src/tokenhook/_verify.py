"""Verifying session assertions against tokenhook's published keys."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import jwt
from jwt import PyJWKClient

from ._errors import TokenHookError
from ._settings import Settings

JWKS_PATH = "/_tokenhook/jwks.json"
ASSERTION_TYPE = "tokenhook-session+jwt"
LEEWAY = 5  # seconds of clock skew allowed on exp and iat
MAX_ASSERTION = 8 << 10  # longer values are refused unparsed


@dataclass(frozen=True)
class User:
    """The signed-in viewer, from a verified session assertion.

    Attributes:
        subject: the viewer's ``sub`` at the identity provider.
        email: the viewer's email ("" when the provider sent none).
        claims: every claim of the assertion (``iss``, ``aud``, ``exp``,
            ``sid`` …).
    """

    subject: str
    email: str
    claims: dict[str, Any] = field(repr=False)

    @property
    def expires(self) -> datetime:
        """When the assertion expires (UTC): for a WebSocket upgrade's, when
        the viewer's tokenhook session ends; for an HTTP request's, five
        minutes after tokenhook forwarded it."""
        return datetime.fromtimestamp(self.claims["exp"], timezone.utc)


class Verifier:
    """Checks session assertions: EdDSA signature against tokenhook's JWKS
    (fetched once, refetched for an unknown key id), ``typ``, ``iss``,
    ``aud``, ``exp``. Safe to share between threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, float], PyJWKClient] = {}

    def _client(self, s: Settings) -> PyJWKClient:
        key = (s.url, s.timeout)
        with self._lock:
            c = self._clients.get(key)
            if c is None:
                if len(self._clients) >= 16:
                    self._clients.clear()
                c = PyJWKClient(s.url + JWKS_PATH, cache_keys=True, lifespan=3600, timeout=s.timeout)
                self._clients[key] = c
            return c

    def verify(self, assertion: str, s: Settings) -> User:
        """The viewer the assertion names, or :class:`TokenHookError`."""
        if not s.audience:
            raise TokenHookError(
                "configuration",
                "set TOKENHOOK_AUDIENCE to the session assertions' audience: tokenhook's "
                "--assertion-audience, or else its --upstream URL",
            )
        if len(assertion) > MAX_ASSERTION:
            raise TokenHookError("invalid_assertion", "the session assertion is too long")
        try:
            if jwt.get_unverified_header(assertion).get("typ") != ASSERTION_TYPE:
                raise TokenHookError("invalid_assertion", "not a tokenhook session assertion")
            key = self._client(s).get_signing_key_from_jwt(assertion)
        except jwt.PyJWKClientConnectionError as e:
            raise TokenHookError("unreachable", f"cannot fetch tokenhook's keys ({e}): set TOKENHOOK_URL") from None
        except jwt.PyJWTError as e:
            raise TokenHookError("invalid_assertion", f"the session assertion is invalid: {e}") from None
        try:
            claims = jwt.decode(
                assertion, key.key, algorithms=["EdDSA"], audience=s.audience, issuer=s.issuer,
                leeway=LEEWAY, options={"require": ["exp", "iss", "aud", "sub", "sid"]},
            )
        except jwt.InvalidIssuerError:
            raise TokenHookError(
                "invalid_assertion",
                f"the session assertion was not issued by {s.issuer}: set TOKENHOOK_ISSUER to tokenhook's --public-url",
            ) from None
        except jwt.InvalidAudienceError:
            raise TokenHookError(
                "invalid_assertion",
                f"the session assertion is not for {s.audience}: set TOKENHOOK_AUDIENCE to tokenhook's "
                "--assertion-audience (or --upstream)",
            ) from None
        except jwt.PyJWTError as e:
            raise TokenHookError("invalid_assertion", f"the session assertion is invalid: {e}") from None
        return User(subject=str(claims["sub"]), email=str(claims.get("email") or ""), claims=claims)
