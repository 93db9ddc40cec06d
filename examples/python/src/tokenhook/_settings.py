"""Where tokenhook is and how to talk to it, read from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass

from ._errors import TokenHookError

#: The request header tokenhook's proxy puts the session assertion in.
HEADER = "X-TokenHook-Session"


@dataclass(frozen=True)
class Settings:
    """How the app reaches tokenhook and what its session assertions must say.

    Every field has an environment variable; :meth:`from_env` reads them.

    Attributes:
        url: where the app's backend reaches tokenhook (``TOKENHOOK_URL``,
            default ``http://127.0.0.1:4180``).
        exchange_secret: tokenhook's ``--exchange-secret``
            (``TOKENHOOK_EXCHANGE_SECRET``); empty when tokenhook has none and
            runs on the same host (it then accepts loopback callers only).
        issuer: the ``iss`` of the assertions, tokenhook's ``--public-url``
            (``TOKENHOOK_ISSUER``, default ``url``).
        audience: the ``aud`` of the assertions, tokenhook's
            ``--assertion-audience`` or else its ``--upstream``
            (``TOKENHOOK_AUDIENCE``); needed to verify them.
        timeout: seconds for each call to tokenhook (``TOKENHOOK_TIMEOUT``,
            default 10).
    """

    url: str = "http://127.0.0.1:4180"
    exchange_secret: str = ""
    issuer: str = ""
    audience: str = ""
    timeout: float = 10.0

    @classmethod
    def from_env(cls) -> "Settings":
        """Settings from the ``TOKENHOOK_*`` environment variables."""
        url = (os.environ.get("TOKENHOOK_URL") or cls.url).rstrip("/")
        raw_timeout = os.environ.get("TOKENHOOK_TIMEOUT", "")
        try:
            timeout = float(raw_timeout) if raw_timeout else cls.timeout
        except ValueError:
            raise TokenHookError(
                "configuration", f"TOKENHOOK_TIMEOUT={raw_timeout!r} is not a number of seconds"
            ) from None
        return cls(
            url=url,
            exchange_secret=os.environ.get("TOKENHOOK_EXCHANGE_SECRET", ""),
            issuer=(os.environ.get("TOKENHOOK_ISSUER") or url).rstrip("/"),
            audience=os.environ.get("TOKENHOOK_AUDIENCE", ""),
            timeout=timeout,
        )
