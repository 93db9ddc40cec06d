"""ASGI middleware that lets :func:`tokenhook.get_user_token` and
:func:`tokenhook.current_user` find the current request without an argument
in Starlette, FastAPI and Quart apps (HTTP requests and WebSockets)::

    from fastapi import FastAPI
    from tokenhook.asgi import RequestContext

    app = FastAPI()
    app.add_middleware(RequestContext)

    @app.get("/report")
    def report():
        token = tokenhook.get_user_token("warehouse")
        ...

Passing the request explicitly (``get_user_token("warehouse", request)``)
works without it.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, MutableMapping

from ._request import current_headers

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class RequestContext:
    """Pure ASGI middleware: keeps the headers of the HTTP request or
    WebSocket being served in a context variable for as long as it is
    served (callbacks run in copies of that context see them too)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers: dict[str, str] = {}
        for name, value in scope.get("headers", ()):
            headers[name.decode("latin-1").lower()] = value.decode("latin-1")
        token = current_headers.set(headers)
        try:
            await self.app(scope, receive, send)
        finally:
            current_headers.reset(token)
