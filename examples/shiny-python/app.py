"""Shiny for Python behind tokenhook.

A Shiny page talks to Python over one WebSocket. tokenhook authenticates the
page load and the upgrade with its same-origin session cookie (plus an exact
Origin check) and adds the signed X-TokenHook-Session assertion; Shiny keeps
the upgrade's headers in session.http_conn, where the tokenhook package finds
them:

- tokenhook.current_user(): the viewer, verified against tokenhook's keys;
- tokenhook.get_user_token("signin") (or a connection's name): the viewer's
  token, to call APIs as the viewer.

File uploads are HTTP POSTs, and tokenhook lets a POST through only with the
viewer's bearer token: the page loads tokenhook's script, which adds it to
Shiny's upload request.

Run (see README.md):
    TOKENHOOK_AUDIENCE=http://127.0.0.1:8000 shiny run examples/shiny-python/app.py \
        --host 127.0.0.1 --port 8000
"""

from __future__ import annotations

import os

from shiny import App, Inputs, Outputs, Session, reactive, render, ui

import tokenhook

ISSUER = os.environ.get("OIDC_ISSUER", "")

app_ui = ui.page_fluid(
    ui.head_content(ui.tags.script(src="/_tokenhook/tokenhook.js")),
    ui.h1("Shiny for Python behind tokenhook"),
    ui.p("Signed in as ", ui.tags.strong(ui.output_text("viewer", inline=True))),
    ui.input_action_button("ask", "Ask the identity provider who I am"),
    ui.p(ui.output_text("answer", inline=True)),
    ui.input_file("upload", "Upload a CSV file", accept=[".csv", ".txt"]),
    ui.p(ui.output_text("uploaded", inline=True)),
)


def ask_provider() -> str:
    """Who the provider says the viewer is, asked with the viewer's token."""
    token = tokenhook.get_user_token("signin")
    if not ISSUER:
        return "got your token. Set OIDC_ISSUER to use it."
    return f"the provider says you are {tokenhook.userinfo(token, ISSUER).get('email')}"


def server(input: Inputs, output: Outputs, session: Session) -> None:
    # "force": reopen the WebSocket when it drops (a tokenhook restart); on a
    # plain `shiny run` server that starts a new session with the page's
    # current inputs.
    session.allow_reconnect("force")

    @render.text
    def viewer() -> str:
        try:
            return tokenhook.current_user(session).email
        except tokenhook.TokenHookError as e:
            return f"nobody ({e})"

    @render.text
    @reactive.event(input.ask)
    def answer() -> str:
        try:
            # This WebSocket's verified assertion expires when the viewer's tokenhook session ends.
            until = tokenhook.current_user(session).expires
            return f"Click {input.ask()}: {ask_provider()}. Your session lasts until {until:%Y-%m-%dT%H:%M:%SZ}."
        except tokenhook.TokenHookError as e:
            return f"tokenhook: {e}"

    @render.text
    def uploaded() -> str:
        files = input.upload()
        if not files:
            return "No file uploaded yet."
        f = files[0]
        with open(f["datapath"], "rb") as fh:
            lines = fh.read(1 << 20).count(b"\n")
        return f"Uploaded {f['name']}: {f['size']} bytes, {lines} lines"


app = App(app_ui, server)
