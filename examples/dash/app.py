"""Plotly Dash behind tokenhook, with the tokenhook plugin.

Setup is one install and one setting:

    pip install ./examples/python      # the tokenhook package (Dash plugin)
    TOKENHOOK_DASH=1 python examples/dash/app.py

The plugin puts tokenhook's script on the page and starts the renderer with
tokenhook's request hooks (combined with the app's own, like the
request_post hook below), so every Dash request carries the viewer's bearer
token, and tokenhook (serve --upstream) validates it before Dash sees it.

The callbacks show the three things an app does with that:
- who the viewer is: tokenhook.current_user(), verified against tokenhook's
  keys;
- the viewer's bearer token in flask.request.headers["Authorization"],
  passed on to an API that accepts it (the provider's userinfo endpoint);
- the viewer's token for a linked connection (a data platform) from
  tokenhook.get_user_token("data"), with a link to connect it first.
"""

from __future__ import annotations

import base64
import json
import os

import flask
from dash import Dash, Input, Output, dcc, html

import tokenhook

ISSUER = os.environ.get("OIDC_ISSUER", "")
CONNECTION = os.environ.get("TOKENHOOK_CONNECTION", "data")

app = Dash(
    __name__,
    title="tokenhook: Dash",
    # The app's own renderer hook; the plugin keeps it and runs it after
    # tokenhook's (here it counts the answered requests on the page).
    hooks={"request_post": "function () { window.appRequests = (window.appRequests || 0) + 1; }"},
)
server = app.server

app.layout = html.Main(
    [
        html.H1("Dash behind tokenhook"),
        html.P(["Signed in as ", html.Strong(id="viewer", children="…")]),
        html.Button("Ask the identity provider who I am", id="ask", n_clicks=0),
        html.Pre(id="answer", children="Every callback request carries your bearer token."),
        html.Button("Load from the data platform", id="load", n_clicks=0),
        html.Div(id="data", children="Uses your own data platform token, fetched by the backend."),
        dcc.Interval(id="tick", interval=3_600_000, max_intervals=0),
    ],
    style={"fontFamily": "system-ui, sans-serif", "maxWidth": "40rem", "margin": "2rem auto"},
)


def audience(token: str) -> str:
    """The aud claim of a JWT access token, for display only (the data
    platform checked the token)."""
    try:
        payload = token.split(".")[1]
        aud = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))).get("aud")
    except (IndexError, ValueError):
        return "?"
    return ", ".join(aud) if isinstance(aud, list) else str(aud)


@app.callback(Output("viewer", "children"), Input("tick", "n_intervals"))
def show_viewer(_):
    try:
        return tokenhook.current_user().email
    except tokenhook.TokenHookError as e:
        return f"nobody ({e})"


@app.callback(Output("answer", "children"), Input("ask", "n_clicks"), prevent_initial_call=True)
def ask_provider(n_clicks):
    # The header tokenhook's renderer hooks added to this callback request.
    authorization = flask.request.headers.get("Authorization", "")
    if not authorization.startswith("Bearer "):
        return "This request carried no bearer token."
    if not ISSUER:
        return f"Request {n_clicks} carried a bearer token. Set OIDC_ISSUER to use it."
    try:
        # The provider's userinfo endpoint: an API that accepts the viewer's token.
        info = tokenhook.userinfo(authorization.removeprefix("Bearer "), ISSUER)
    except tokenhook.TokenHookError as e:
        if e.error == "refused":
            return f"The provider refused the token: HTTP {e.status}"
        return f"Could not ask the provider: {e}"
    return f"Request {n_clicks}: the provider says you are {info.get('email')}"


@app.callback(Output("data", "children"), Input("load", "n_clicks"), prevent_initial_call=True)
def load_data(n_clicks):
    try:
        token = tokenhook.get_user_token(CONNECTION)
    except tokenhook.ConnectionRequired as e:
        return html.A(f"Connect your {CONNECTION} account first", id="connect", href=e.connect_url)
    except tokenhook.TokenHookError as e:
        return f"tokenhook: {e}"
    try:
        info = tokenhook.userinfo(token, ISSUER)
    except tokenhook.TokenHookError as e:
        return f"The data platform refused: {e}"
    return f"Load {n_clicks}: the data platform knows you as {info.get('email')} (token for {audience(token)})"


@server.get("/healthz")
def healthz():
    return "ok\n"


if __name__ == "__main__":
    app.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "8050")))
