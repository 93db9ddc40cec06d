"""HoloViz Panel behind tokenhook.

A Panel page talks to its server over one WebSocket, and browsers cannot put
an Authorization header on a WebSocket upgrade. So here tokenhook
authenticates the page load and the upgrade with its same-origin session
cookie (plus an exact Origin check on the upgrade) and forwards the viewer's
identity as headers. Panel keeps the headers of the request that opened the
session in pn.state.headers.

Run (see README.md):
    panel serve examples/panel/app.py --address 127.0.0.1 --port 5006 \
        --allow-websocket-origin 127.0.0.1:4180
"""

import panel as pn

pn.extension()

IDENTITY_HEADERS = {
    "Email": "X-Forwarded-Email",
    "User": "X-Forwarded-User",
    "Username": "X-Forwarded-Preferred-Username",
    "Groups": "X-Forwarded-Groups",
}


def header(name):
    """A request header of this session, matched case-insensitively."""
    wanted = name.lower()
    for key, value in (pn.state.headers or {}).items():
        if key.lower() == wanted:
            return value
    return ""


def identity():
    return {label: header(h) for label, h in IDENTITY_HEADERS.items()}


def greeting(_=None):
    ident = identity()
    if not ident["Email"]:
        return "No forwarded identity: open this app through tokenhook."
    rows = "\n".join(f"| {label} | {value or '–'} |" for label, value in ident.items())
    return f"Signed in as **{ident['Email']}**\n\n| | |\n|---|---|\n{rows}"


refresh = pn.widgets.Button(name="Show who I am", button_type="primary")

pn.template.FastListTemplate(
    title="Panel behind tokenhook",
    main=[
        pn.Column(
            refresh,
            pn.pane.Markdown(pn.bind(greeting, refresh), sizing_mode="stretch_width"),
        )
    ],
).servable()
