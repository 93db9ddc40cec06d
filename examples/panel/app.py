"""HoloViz Panel behind tokenhook.

A Panel page talks to its server over one WebSocket, and browsers cannot put
an Authorization header on a WebSocket upgrade. tokenhook authenticates the
page load and the upgrade with its same-origin session cookie (plus an exact
Origin check on the upgrade) and adds the signed X-TokenHook-Session
assertion. Panel keeps the page load's headers in pn.state.headers (an HTTP
request's assertion lives five minutes); in callbacks the tokenhook package
reads the WebSocket upgrade's, whose assertion lives as long as the viewer's
session:

- tokenhook.current_user(): the viewer, verified against tokenhook's keys;
- tokenhook.get_user_token("signin") (or a connection's name): the viewer's
  token, for calling APIs as the viewer from a callback.

Run (see README.md):
    TOKENHOOK_AUDIENCE=http://127.0.0.1:5006 panel serve examples/panel/app.py \
        --address 127.0.0.1 --port 5006 --allow-websocket-origin 127.0.0.1:4180
"""

from __future__ import annotations

import os

import panel as pn

import tokenhook

# reconnect: the page reopens its WebSocket when the connection drops (a
# tokenhook restart, a network blip) and keeps its session.
pn.extension(reconnect=True)

ISSUER = os.environ.get("OIDC_ISSUER", "")


def viewer() -> str:
    try:
        return tokenhook.current_user().email
    except tokenhook.TokenHookError as e:
        return f"nobody ({e})"


def ask_provider() -> str:
    """Who the provider says the viewer is, asked with the viewer's token."""
    try:
        token = tokenhook.get_user_token("signin")
    except tokenhook.TokenHookError as e:
        return f"tokenhook: {e}"
    if not ISSUER:
        return "Got your token. Set OIDC_ISSUER to use it."
    return f"the provider says you are {tokenhook.userinfo(token, ISSUER).get('email')}"


button = pn.widgets.Button(name="Ask the identity provider who I am", button_type="primary")
answer = pn.pane.Markdown("Clicks run in Python over the WebSocket.", sizing_mode="stretch_width")


def on_click(event) -> None:
    try:
        # This WebSocket's verified assertion expires when the viewer's tokenhook session ends.
        until = tokenhook.current_user().expires
        answer.object = f"Click {event.obj.clicks}: {ask_provider()}. Your session lasts until {until:%Y-%m-%dT%H:%M:%SZ}."
    except tokenhook.TokenHookError as e:
        answer.object = f"tokenhook: {e}"


button.on_click(on_click)

pn.template.FastListTemplate(
    title="Panel behind tokenhook",
    main=[pn.Column(pn.pane.Markdown(f"Signed in as **{viewer()}**"), button, answer)],
).servable()
