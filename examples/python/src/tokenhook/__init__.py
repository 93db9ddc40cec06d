"""The viewer's tokens and identity in Python apps behind tokenhook.

tokenhook's proxy adds ``X-TokenHook-Session``, a short-lived signed
assertion of the viewer's session, to every request it forwards. This
package turns it into what the app needs:

- :func:`get_user_token`: the viewer's access token for a named connection
  (Databricks, Snowflake, any OAuth API linked in tokenhook), by RFC 8693
  token exchange at tokenhook;
- :func:`current_user`: the viewer, verified against tokenhook's keys;
- :func:`userinfo`: what the identity provider says about the holder of a
  token (its OpenID userinfo endpoint, asked with the token);
- :mod:`tokenhook.dash`: a Dash plugin (``TOKENHOOK_DASH=1``) that makes
  every Dash request carry the viewer's bearer token;
- :mod:`tokenhook.asgi`: middleware so Starlette/FastAPI/Quart code finds
  the current request.

Example, in a Dash callback::

    import tokenhook

    @callback(Output("table", "data"), Input("refresh", "n_clicks"))
    def load(_):
        try:
            token = tokenhook.get_user_token("warehouse")
        except tokenhook.ConnectionRequired as e:
            return [{"error": f"connect your warehouse account: {e.connect_url}"}]
        return query_warehouse(token)

Settings come from the environment (see :class:`Settings`).
"""

from __future__ import annotations

import asyncio
from typing import Any, Optional

from ._errors import ConnectionRequired, TokenHookError
from ._exchange import Exchanger
from ._request import assertion as _assertion
from ._settings import HEADER, Settings
from ._userinfo import ProviderError, userinfo
from ._verify import User, Verifier

__all__ = [
    "HEADER",
    "ConnectionRequired",
    "ProviderError",
    "Settings",
    "TokenHookError",
    "User",
    "aget_user_token",
    "current_user",
    "get_user_token",
    "userinfo",
]

_exchanger = Exchanger()
_verifier = Verifier()


def get_user_token(connection: str, request: Any = None, *, settings: Optional[Settings] = None) -> str:
    """The viewer's access token for ``connection``.

    Args:
        connection: a connection name from tokenhook's config, or
            ``"signin"`` for the sign-in provider's own access token.
        request: the request being served. Leave it out inside Flask/Dash
            requests and callbacks, Panel and Streamlit sessions, Shiny
            sessions, and Starlette/FastAPI/Quart apps with
            :class:`tokenhook.asgi.RequestContext`; otherwise pass the
            framework's request (or WebSocket), a Shiny session, or a
            mapping of request headers.
        settings: where tokenhook is (default: from the environment).

    Returns:
        The access token. It is cached for this viewer's session assertion
        until 30 seconds before it expires; calls from many threads for
        the same viewer exchange once.

    Raises:
        ConnectionRequired: the viewer has not linked ``connection``; send
            them to ``e.connect_url``.
        TokenHookError: anything else (not behind tokenhook, session ended,
            wrong exchange secret, tokenhook unreachable); the message says
            what to change.

    Example::

        token = tokenhook.get_user_token("databricks")
        requests.get(api, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    """
    if not connection:
        raise TokenHookError("invalid_request", "name the connection (from tokenhook's config), or 'signin'")
    a = _assertion(request)
    return _exchanger.token(a, connection, settings or Settings.from_env())


async def aget_user_token(connection: str, request: Any = None, *, settings: Optional[Settings] = None) -> str:
    """:func:`get_user_token` for ``async def`` code: the exchange runs in a
    worker thread so the event loop is never blocked. The request is found
    before leaving the caller's context."""
    if not connection:
        raise TokenHookError("invalid_request", "name the connection (from tokenhook's config), or 'signin'")
    a = _assertion(request)
    s = settings or Settings.from_env()
    return await asyncio.to_thread(_exchanger.token, a, connection, s)


def current_user(request: Any = None, *, settings: Optional[Settings] = None) -> User:
    """The signed-in viewer of ``request`` (default: the current request).

    The identity comes from the session assertion, verified against
    tokenhook's ``/_tokenhook/jwks.json`` (EdDSA signature, ``iss`` =
    ``TOKENHOOK_ISSUER``, ``aud`` = ``TOKENHOOK_AUDIENCE``, ``exp``), never
    from a header a client could have set.

    Raises:
        TokenHookError: no assertion, or it does not verify; the message says
            which setting to check.

    Example::

        user = tokenhook.current_user()
        f"Signed in as {user.email}"
    """
    return _verifier.verify(_assertion(request), settings or Settings.from_env())
