"""Finding the current request's headers in each framework.

Each adapter only knows where its framework keeps the headers of the request
being served; nothing here talks to tokenhook.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, Callable, Optional

from ._errors import TokenHookError
from ._settings import HEADER

#: Headers of the request being served, set by :mod:`tokenhook.asgi`'s
#: middleware (Starlette, FastAPI, Quart, Dash's FastAPI and Quart backends).
current_headers: ContextVar[Optional[Mapping[str, Any]]] = ContextVar("tokenhook_current_headers", default=None)


def header(headers: Any, name: str = HEADER) -> str:
    """The value of header ``name`` in ``headers``, matched without regard to case.

    ``headers`` may be any mapping (Werkzeug, Starlette, Tornado and
    Streamlit header objects, or a plain dict); list values (Bokeh) give
    their last item. Returns "" when the header is absent.
    """
    value: Any = None
    getter = getattr(headers, "get", None)
    if getter is not None:
        value = getter(name)
        if value is None:
            value = getter(name.lower())
    if value is None and isinstance(headers, Mapping):
        wanted = name.lower()
        for key, v in headers.items():
            if isinstance(key, str) and key.lower() == wanted:
                value = v
    if isinstance(value, (list, tuple)):
        value = value[-1] if value else None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return value if isinstance(value, str) else ""


def headers_of(request: Any) -> Any:
    """The headers of ``request``: a framework request or WebSocket object
    (anything with ``headers``), a Shiny session (its ``http_conn``), or a
    mapping of headers itself."""
    http_conn = getattr(request, "http_conn", None)
    if http_conn is not None:  # Shiny for Python's Session
        return http_conn.headers
    h = getattr(request, "headers", None)
    if h is not None and not callable(h):
        return h
    if isinstance(request, Mapping):
        return request
    raise TokenHookError(
        "no_request",
        f"cannot read headers from a {type(request).__name__}: pass the framework's request, "
        "a Shiny session, or a mapping of request headers",
    )


def _asgi() -> Any:
    return current_headers.get()


def _flask() -> Any:
    flask = sys.modules.get("flask")
    if flask is not None and flask.has_request_context():
        return flask.request.headers
    return None


def _quart() -> Any:
    quart = sys.modules.get("quart")
    if quart is not None:
        if quart.has_request_context():
            return quart.request.headers
        if quart.has_websocket_context():
            return quart.websocket.headers
    return None


def _shiny() -> Any:
    if "shiny" not in sys.modules:
        return None
    from shiny.session import get_current_session

    session = get_current_session()
    conn = getattr(session, "http_conn", None)
    return conn.headers if conn is not None else None


def _panel() -> Any:
    if "panel" not in sys.modules:
        return None
    import panel as pn

    if pn.state.curdoc is None or pn.state.curdoc.session_context is None:
        return None
    socket = _bokeh_socket_headers(pn.state.curdoc.session_context)
    return socket if socket is not None else pn.state.headers


def _bokeh_socket_headers(context: Any) -> Any:
    """The headers of the WebSocket upgrade of a Bokeh (Panel) session, or None.

    ``pn.state.headers`` are those of the page load, whose assertion lives
    five minutes; the upgrade's lives as long as the viewer's session, and a
    reconnect brings a fresh one. Bokeh keeps the open connections of a
    session privately (``ServerSession._subscribed_connections``, each a
    ``ServerConnection`` whose ``_socket`` is Tornado's WebSocket handler):
    when that changes, this finds nothing and the page load's headers serve.
    """
    session = getattr(context, "session", None)
    try:
        connections = tuple(getattr(session, "_subscribed_connections", None) or ())
    except RuntimeError:  # the set changed while being copied
        return None
    for conn in connections:
        request = getattr(getattr(conn, "_socket", None), "request", None)
        headers = getattr(request, "headers", None)
        if headers is not None and header(headers):
            return headers
    return None


def _streamlit() -> Any:
    if "streamlit" not in sys.modules:
        return None
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    if get_script_run_ctx(suppress_warning=True) is None:
        return None
    import streamlit as st

    return st.context.headers


# Tried in order; the first that finds a request being served wins.
_FINDERS: tuple[Callable[[], Any], ...] = (_asgi, _flask, _quart, _shiny, _panel, _streamlit)


def current() -> Any:
    """The headers of the request the calling code serves, from whichever
    supported framework is serving one."""
    for find in _FINDERS:
        h = find()
        if h is not None:
            return h
    raise TokenHookError(
        "no_request",
        "no request is being served here: call this inside a request or callback of Flask/Dash, "
        "Panel, Streamlit or Shiny, add tokenhook.asgi.RequestContext to a Starlette/FastAPI/Quart app, "
        "or pass request=…",
    )


def assertion(request: Any = None) -> str:
    """The session assertion tokenhook added to ``request`` (default: the
    current request); raises :class:`TokenHookError` when there is none."""
    h = current() if request is None else headers_of(request)
    value = header(h)
    if not value:
        raise TokenHookError(
            "not_behind_tokenhook",
            f"the request has no {HEADER} header: open the app through tokenhook "
            "(tokenhook serve --upstream <this app>), and make sure the viewer is signed in",
        )
    return value
