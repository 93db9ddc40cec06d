"""FastAPI behind tokenhook, with the tokenhook package.

    pip install ./examples/python fastapi uvicorn
    TOKENHOOK_AUDIENCE=http://127.0.0.1:8000 uvicorn app:app --port 8000

- tokenhook.asgi.RequestContext lets tokenhook.current_user() and
  tokenhook.get_user_token() find the request being served (passing the
  request works too).
- The page loads tokenhook's script, so its fetch POST carries the viewer's
  bearer token; tokenhook validates it before FastAPI sees the request.
- /api/report answers with the verified viewer and what an API says when
  called with the viewer's token (tokenhook.aget_user_token in async code:
  the exchange never blocks the event loop).
"""

from __future__ import annotations

import asyncio
import os

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

import tokenhook
from tokenhook.asgi import RequestContext

ISSUER = os.environ.get("OIDC_ISSUER", "")

app = FastAPI(title="tokenhook: FastAPI")
app.add_middleware(RequestContext)

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>tokenhook: FastAPI</title>
<script src="/_tokenhook/tokenhook.js"></script></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto">
<h1>FastAPI behind tokenhook</h1>
<button id="report">Build my report</button>
<pre id="out">The request carries your bearer token.</pre>
<script>
document.getElementById("report").addEventListener("click", function () {
  fetch("/api/report", {method: "POST"})
    .then(function (r) { return r.json(); })
    .then(function (j) { document.getElementById("out").textContent = j.viewer + ": " + j.provider_says; });
});
</script>
</body></html>
"""


@app.get("/", response_class=HTMLResponse)
def index() -> str:
    return PAGE


@app.post("/api/report")
async def report(request: Request) -> JSONResponse:
    try:
        user = tokenhook.current_user()  # found by RequestContext
        token = await tokenhook.aget_user_token("signin", request)  # or pass the request
    except tokenhook.ConnectionRequired as e:
        return JSONResponse({"error": "connection_required", "connect_url": e.connect_url}, status_code=409)
    except tokenhook.TokenHookError as e:
        return JSONResponse({"error": e.error, "error_description": e.description}, status_code=403)
    says = "(set OIDC_ISSUER)"
    if ISSUER:
        # The provider's userinfo endpoint, asked with the viewer's token in
        # a worker thread (the call blocks).
        info = await asyncio.to_thread(tokenhook.userinfo, token, ISSUER)
        says = str(info.get("email"))
    return JSONResponse(
        {
            "viewer": user.email,
            "bearer": request.headers.get("authorization", "").startswith("Bearer "),
            "provider_says": says,
        },
        headers={"Cache-Control": "no-store"},
    )


@app.get("/healthz")
def healthz() -> str:
    return "ok"
