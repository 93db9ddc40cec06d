"""Dash 4 with the FastAPI backend and WebSocket callbacks, behind tokenhook.

    pip install ./examples/python
    TOKENHOOK_DASH=1 TOKENHOOK_AUDIENCE=http://127.0.0.1:8050 python examples/dash-fastapi/app.py

Dash runs these callbacks over one WebSocket opened by a SharedWorker, which
no page script reaches: the upgrade carries no bearer token. tokenhook lets
it through on the viewer's session cookie and an exact Origin, and the
plugin's websocket_connect hook accepts only an upgrade whose
X-TokenHook-Session assertion verifies. Inside a WebSocket callback,
tokenhook.current_user() and tokenhook.get_user_token() find that upgrade's
assertion (the plugin's ASGI middleware keeps it in the callback's context).
"""

from __future__ import annotations

import os

from dash import Dash, Input, Output, ctx, html

import tokenhook

ISSUER = os.environ.get("OIDC_ISSUER", "")

app = Dash(__name__, title="tokenhook: Dash + FastAPI", backend="fastapi", websocket_callbacks=True)

app.layout = html.Main(
    [
        html.H1("Dash (FastAPI, WebSocket callbacks) behind tokenhook"),
        html.P(["Signed in as ", html.Strong(id="viewer", children="…")]),
        html.Button("Ask the identity provider who I am", id="ask", n_clicks=0),
        html.Pre(id="answer", children="Callbacks run over a WebSocket."),
    ],
    style={"fontFamily": "system-ui, sans-serif", "maxWidth": "40rem", "margin": "2rem auto"},
)


def transport() -> str:
    return "WebSocket" if ctx.websocket is not None else "HTTP"


@app.callback(Output("viewer", "children"), Input("ask", "id"))
def show_viewer(_):
    try:
        return f"{tokenhook.current_user().email} (over {transport()})"
    except tokenhook.TokenHookError as e:
        return f"nobody ({e})"


@app.callback(Output("answer", "children"), Input("ask", "n_clicks"), prevent_initial_call=True)
def ask_provider(n_clicks):
    try:
        # The viewer's own sign-in token, from tokenhook (no bearer rides on
        # a WebSocket callback).
        token = tokenhook.get_user_token("signin")
        if not ISSUER:
            return f"Request {n_clicks} over {transport()}: got your token. Set OIDC_ISSUER to use it."
        info = tokenhook.userinfo(token, ISSUER)
    except tokenhook.TokenHookError as e:
        return f"tokenhook: {e}"
    return f"Request {n_clicks} over {transport()}: the provider says you are {info.get('email')}"


@app.server.get("/healthz")
def healthz():
    return "ok"


if __name__ == "__main__":
    app.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "8050")))
