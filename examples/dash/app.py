"""Plotly Dash behind tokenhook.

Step 1: external_scripts loads tokenhook's browser script (served by tokenhook
        itself under /_tokenhook/).
Step 2: app.renderer starts the Dash renderer with tokenhook's request hooks,
        so the layout, dependency and callback requests carry the viewer's
        bearer token, and a "JWT Expired" answer refreshes it and retries.
Step 3: tokenhook (serve --upstream) validates the token before Dash sees the
        request; a callback reads the header and passes it on to an API that
        accepts the viewer's token (here: the provider's userinfo endpoint).

Run (see README.md):
    pip install -r examples/dash/requirements.txt
    OIDC_ISSUER=http://127.0.0.1:5556/dex python examples/dash/app.py
"""

import json
import os
import urllib.request
from urllib.error import HTTPError, URLError

import flask
from dash import Dash, Input, Output, html

ISSUER = os.environ.get("OIDC_ISSUER", "")
HTTP_TIMEOUT = 10  # seconds
MAX_DOCUMENT = 1 << 20

app = Dash(
    __name__,
    title="tokenhook: Dash",
    external_scripts=["/_tokenhook/tokenhook.js"],
)

# The renderer wiring. This exact line is what tokenhook's real-renderer
# browser test runs (server/e2e/testdata/dash/renderer-hooks.js); a test
# keeps the two identical.
app.renderer = "var renderer = new DashRenderer(TokenHook.dash());"

app.layout = html.Main(
    [
        html.H1("Dash behind tokenhook"),
        html.P(["Signed in as ", html.Strong(id="viewer", children="…")]),
        html.Button("Ask the identity provider who I am", id="ask", n_clicks=0),
        html.Pre(id="answer", children="Every callback request carries your bearer token."),
    ],
    style={"fontFamily": "system-ui, sans-serif", "maxWidth": "40rem", "margin": "2rem auto"},
)


def get_json(url, authorization=None):
    headers = {"Accept": "application/json"}
    if authorization:
        headers["Authorization"] = authorization
    req = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT) as resp:
        return json.loads(resp.read(MAX_DOCUMENT))


@app.callback(Output("viewer", "children"), Input("ask", "id"))
def show_viewer(_):
    # tokenhook forwards the identity it validated.
    return flask.request.headers.get("X-Forwarded-Email", "nobody (not behind tokenhook?)")


@app.callback(Output("answer", "children"), Input("ask", "n_clicks"), prevent_initial_call=True)
def ask_provider(n_clicks):
    # The header the browser hook added to this callback request.
    authorization = flask.request.headers.get("Authorization", "")
    if not authorization.startswith("Bearer "):
        return "This request carried no bearer token."
    if not ISSUER:
        return f"Request {n_clicks} carried a bearer token ({len(authorization) - 7} characters). Set OIDC_ISSUER to use it."
    try:
        meta = get_json(ISSUER.rstrip("/") + "/.well-known/openid-configuration")
        info = get_json(meta["userinfo_endpoint"], authorization)
    except HTTPError as e:
        return f"The provider refused the token: HTTP {e.code}"
    except (URLError, OSError, ValueError, KeyError) as e:
        return f"Could not ask the provider: {e}"
    return f"Request {n_clicks}: the provider says you are\n" + json.dumps(info, indent=2)


if __name__ == "__main__":
    app.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "8050")))
