"""A Dash plugin: every Dash request carries the viewer's bearer token.

With this package installed, set ``TOKENHOOK_DASH=1`` in the app's
environment; nothing in the app changes. Dash (3.0.3 and later) loads the
plugin through the ``dash_hooks`` entry point. Or call :func:`install`.

What it adds to every Dash app of the process (Dash's hooks are global):

- tokenhook's browser script, ``/_tokenhook/tokenhook.js``, on the page
  (once, even when the app lists it in ``external_scripts`` too);
- tokenhook's renderer request hooks, combined with the hooks the app gave
  ``DashRenderer`` itself (``app.renderer`` or ``Dash(hooks=…)``): the app's
  run after tokenhook's; so ``_dash-layout``, ``_dash-dependencies`` and
  every callback POST carry ``Authorization: Bearer …``, and a
  ``JWT Expired`` answer is refreshed and retried;
- with the FastAPI or Quart backend (Dash ≥ 4.2): middleware so
  :func:`tokenhook.get_user_token` finds the request in callbacks, also in
  WebSocket callbacks, and a ``websocket_connect`` check. WebSocket
  callbacks run in a SharedWorker that no page script reaches, so the
  upgrade carries no bearer: tokenhook lets it through on the viewer's
  session cookie and an exact ``Origin``, and the check here accepts only an
  upgrade whose ``X-TokenHook-Session`` assertion verifies (it needs
  ``TOKENHOOK_AUDIENCE``; see :func:`tokenhook.current_user`).
"""

from __future__ import annotations

import os
from typing import Any, Optional

from . import current_user
from ._errors import TokenHookError

SCRIPT = "/_tokenhook/tokenhook.js"

# Runs right before the app's renderer script: wraps window.DashRenderer so
# that whatever hooks the app passes are combined with TokenHook.dash().
# An app that already passes TokenHook.dash() itself is left as it is.
WRAP_RENDERER = (
    "(function(w){var D=w.DashRenderer,T=w.TokenHook;"
    "if(!D||!T||D.tokenhook)return;"
    "function R(h){var t=T.dash();if(!h||h===t)return new D(t);var m={},k;for(k in h)m[k]=h[k];"
    "m.request_pre=function(p){t.request_pre(p);return h.request_pre?h.request_pre(p):void 0};"
    "m.request_post=function(p,r){t.request_post(p,r);return h.request_post?h.request_post(p,r):void 0};"
    "m.request_refresh_jwt=function(o){return Promise.resolve(t.request_refresh_jwt(o)).then("
    "function(n){return n||!h.request_refresh_jwt?n:h.request_refresh_jwt(o)})};"
    "return new D(m)}"
    "R.tokenhook=true;w.DashRenderer=R})(window);"
)

_RENDERER_TAG = '<script id="_dash-renderer"'

_installed = False


def index(html: str) -> str:
    """The Dash index page with tokenhook's script and the renderer wrapper
    inserted right before the renderer script (a page without one is
    returned as it is)."""
    at = html.find(_RENDERER_TAG)
    if at < 0 or "tokenhook-dash-renderer" in html:
        return html
    tags = ""
    if SCRIPT not in html:
        tags += f'<script src="{SCRIPT}"></script>\n'
    tags += f'<script id="tokenhook-dash-renderer">{WRAP_RENDERER}</script>\n'
    return html[:at] + tags + html[at:]


def websocket_connect(websocket: Any) -> Any:
    """Dash's ``websocket_connect`` hook: True when the upgrade carries a
    valid session assertion, else ``(4003, reason)``."""
    try:
        current_user(websocket)
    except TokenHookError as e:
        return (4003, f"tokenhook: {e.description or e.error}"[:120])
    return True


def setup(app: Any) -> None:
    """Dash's ``setup`` hook: adds :class:`tokenhook.asgi.RequestContext`
    to an ASGI backend (FastAPI, Quart) so callbacks find their request."""
    if getattr(app, "_tokenhook_setup", False):
        return
    app._tokenhook_setup = True
    server = getattr(app, "server", None)
    add = getattr(server, "add_middleware", None)
    if callable(add):  # FastAPI / Starlette
        from .asgi import RequestContext

        add(RequestContext)
    elif server is not None and hasattr(server, "asgi_app") and "quart" in type(server).__module__:
        from .asgi import RequestContext

        server.asgi_app = RequestContext(server.asgi_app)


def install(app: Optional[Any] = None) -> None:
    """Registers the plugin's hooks with Dash (once per process).

    Dash's hooks are global: they apply to every Dash app of the process.
    Apps created before the call get the middleware here (pass the app);
    the script, the renderer hooks and the WebSocket check apply to them
    too.
    """
    global _installed
    from dash import hooks

    if not _installed:
        _installed = True
        hooks.index()(index)
        hooks.setup()(setup)
        hooks.websocket_connect()(websocket_connect)
    if app is not None:
        setup(app)


if os.environ.get("TOKENHOOK_DASH", "").strip().lower() in ("1", "true", "yes", "on"):
    install()
