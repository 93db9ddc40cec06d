"""Flask behind tokenhook.

The app does two independent things with what tokenhook forwards:

1. it reads the identity headers tokenhook sets (X-Forwarded-Email, -User,
   -Preferred-Username, -Groups) to greet the viewer, and
2. it validates the viewer's bearer token itself against the identity
   provider's published keys (JWKS) with PyJWT, so its API stays safe even if
   someone reaches it without going through tokenhook.

Run (see README.md):
    OIDC_ISSUER=http://127.0.0.1:5556/dex OIDC_AUDIENCE=examples \
        /usr/bin/python3 examples/flask/app.py
"""

import json
import os
import threading
import urllib.request
from functools import wraps
from html import escape
from urllib.error import URLError

import flask
import jwt
from jwt import PyJWKClient, PyJWKClientError

ISSUER = os.environ["OIDC_ISSUER"]  # exact "iss" of the access tokens
AUDIENCE = os.environ["OIDC_AUDIENCE"]  # tokenhook's client id at the provider
ALGORITHMS = os.environ.get("OIDC_ALGORITHMS", "RS256").split(",")
HTTP_TIMEOUT = 10  # seconds, for discovery and key fetches
MAX_DOCUMENT = 1 << 20  # bytes read from the provider at most
MAX_TOKEN = 16 << 10  # longer Authorization values are refused unparsed
LEEWAY = 30  # seconds of clock skew allowed on exp/nbf
REALM = "flask-example"

IDENTITY_HEADERS = {
    "user": "X-Forwarded-User",
    "email": "X-Forwarded-Email",
    "preferred_username": "X-Forwarded-Preferred-Username",
    "groups": "X-Forwarded-Groups",
}

app = flask.Flask(__name__)


class KeysUnavailable(PyJWKClientError):
    """The provider's metadata or keys could not be fetched."""


def fetch_json(url):
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT) as resp:
            return json.loads(resp.read(MAX_DOCUMENT))
    except (URLError, OSError, ValueError) as e:
        raise KeysUnavailable(f"fetch {url}: {e}") from e


class JWKSClient(PyJWKClient):
    """PyJWKClient with a timeout and a size bound on the key fetch."""

    def fetch_data(self):
        data = fetch_json(self.uri)
        if getattr(self, "jwk_set_cache", None) is not None:
            self.jwk_set_cache.put(data)
        return data


_jwks = None
_jwks_lock = threading.Lock()


def jwks():
    """The key client, built on first use from OpenID discovery (a provider
    that is down at start-up does not stop the app)."""
    global _jwks
    with _jwks_lock:
        if _jwks is None:
            meta = fetch_json(ISSUER.rstrip("/") + "/.well-known/openid-configuration")
            if meta.get("issuer") != ISSUER or "jwks_uri" not in meta:
                raise KeysUnavailable("discovery document does not match the issuer")
            _jwks = JWKSClient(meta["jwks_uri"], cache_keys=True)
        return _jwks


def challenge(status, error=None, description=None):
    """An RFC 6750 error answer."""
    params = [f'realm="{REALM}"']
    if error:
        params.append(f'error="{error}"')
    if description:
        params.append(f'error_description="{description}"')
    body = {"error": error or "unauthorized"}
    if description:
        body["error_description"] = description
    resp = flask.jsonify(body)
    resp.status_code = status
    resp.headers["WWW-Authenticate"] = "Bearer " + ", ".join(params)
    resp.headers["Cache-Control"] = "no-store"
    return resp


def validate(token):
    """Returns the token's claims, or raises jwt.PyJWTError."""
    key = jwks().get_signing_key_from_jwt(token)
    return jwt.decode(
        token,
        key.key,
        algorithms=ALGORITHMS,  # pinned: never "none" or HMAC
        audience=AUDIENCE,
        issuer=ISSUER,
        leeway=LEEWAY,
        options={"require": ["exp", "iss", "aud", "sub"]},
    )


def require_bearer(view):
    """Decorator: the request must carry a valid bearer token; its claims are
    in flask.g.claims."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        auth = flask.request.headers.get("Authorization", "")
        if not auth:
            return challenge(401)
        if len(auth) > MAX_TOKEN:
            return challenge(400, "invalid_request", "authorization header too long")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return challenge(401)
        try:
            flask.g.claims = validate(token.strip())
        except KeysUnavailable:
            app.logger.warning("identity provider unavailable")
            resp = flask.jsonify({"error": "identity provider unavailable"})
            resp.status_code = 503
            return resp
        except jwt.ExpiredSignatureError:
            # "JWT Expired" is the text Dash's renderer looks for to refresh.
            return challenge(401, "invalid_token", "JWT Expired")
        except jwt.PyJWTError as e:
            return challenge(401, "invalid_token", type(e).__name__)
        return view(*args, **kwargs)

    return wrapper


def forwarded_identity():
    """The identity tokenhook forwarded. Trust it only because this app is
    reachable through tokenhook alone (it listens on loopback)."""
    return {k: flask.request.headers.get(h, "") for k, h in IDENTITY_HEADERS.items()}


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>tokenhook: Flask</title>
<script src="/_tokenhook/tokenhook.js"></script>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}}
pre{{background:#f6f7f9;padding:1rem;white-space:pre-wrap}}</style>
</head><body>
<h1>Flask behind tokenhook</h1>
<p>Hello <strong id="email">{email}</strong> (forwarded by tokenhook).</p>
<p><button id="whoami" type="button">POST /api/whoami</button></p>
<pre id="out">press the button: the app validates your bearer token itself</pre>
<script>
document.getElementById("whoami").addEventListener("click", function () {{
  fetch("/api/whoami", {{method: "POST"}})
    .then(function (r) {{ return r.text().then(function (t) {{ return r.status + "\\n" + t; }}); }})
    .then(function (t) {{ document.getElementById("out").textContent = t; }});
}});
</script>
</body></html>
"""


@app.get("/")
def index():
    ident = forwarded_identity()
    return PAGE.format(email=escape(ident["email"] or "nobody"))


@app.post("/api/whoami")
@require_bearer
def whoami():
    c = flask.g.claims
    ident = forwarded_identity()
    aud = c.get("aud")
    resp = flask.jsonify(
        {
            "validated": {
                "sub": c.get("sub"),
                "email": c.get("email"),
                "groups": c.get("groups", []),
                "iss": c.get("iss"),
                "aud": aud if isinstance(aud, list) else [aud],
                "exp": c.get("exp"),
            },
            "forwarded": ident,
            # Both views of the viewer agree when the request came through tokenhook.
            "same_viewer": bool(ident["email"]) and ident["email"] == c.get("email"),
        }
    )
    resp.headers["Cache-Control"] = "no-store"
    return resp


@app.get("/healthz")
def healthz():
    return "ok\n"


if __name__ == "__main__":
    app.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "5000")))
