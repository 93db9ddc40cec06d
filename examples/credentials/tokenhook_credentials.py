"""Viewer credentials for Python backends behind tokenhook (Flask, Dash, Panel).

tokenhook's proxy adds a short-lived signed header, ``X-TokenHook-Session``, to
every request it forwards for a signed-in viewer.  ``get_user_token`` trades it
at tokenhook's exchange endpoint (RFC 8693 token exchange) for the viewer's
access token of a named connection, so the app can query Databricks,
Snowflake or any OAuth API *as the viewer*::

    from tokenhook_credentials import get_user_token

    @app.route("/report")
    def report():
        token = get_user_token("databricks")   # reads flask.request
        ...

Standard library only.  Settings come from the environment:

``TOKENHOOK_URL``
    where the app reaches tokenhook (default ``http://127.0.0.1:4180``).
``TOKENHOOK_EXCHANGE_SECRET``
    the ``--exchange-secret`` tokenhook was started with (omit it when
    tokenhook runs on the same host and has none: then only loopback callers
    may exchange).
"""

import base64
import json
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

__all__ = ["get_user_token", "TokenHookError", "ConnectionRequired", "HEADER"]

HEADER = "X-TokenHook-Session"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
SUBJECT_TOKEN_TYPE = "urn:tokenhook:params:oauth:token-type:session"


class TokenHookError(Exception):
    """The exchange failed; ``error`` is the OAuth error code."""

    def __init__(self, error, description="", status=0):
        super().__init__("%s: %s" % (error, description) if description else error)
        self.error = error
        self.description = description
        self.status = status


class ConnectionRequired(TokenHookError):
    """The viewer has not linked the connection yet: send them to ``connect_url``."""

    def __init__(self, description, connect_url, status=400):
        super().__init__("invalid_target", description, status)
        self.connect_url = connect_url


_cache = {}
_lock = threading.Lock()


def _headers_of(request):
    if request is None:
        import flask  # Flask and Dash apps: the current request

        return flask.request.headers
    if isinstance(request, dict):
        return request
    return getattr(request, "headers", request)


def _claims(assertion):
    """Unverified claims of the assertion, for the cache key only (tokenhook verifies)."""
    try:
        payload = assertion.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        return json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (IndexError, ValueError):
        return {}


def get_user_token(connection, request=None, base_url=None, secret=None, timeout=10.0):
    """Return the viewer's access token for ``connection``.

    ``request`` is the incoming request (default: ``flask.request``), a dict of
    headers, or anything with a ``headers`` mapping.  ``connection`` is a
    connection name from tokenhook's config, or ``"signin"`` for the sign-in
    provider's own token.  Tokens are cached in memory until shortly before
    they expire.
    """
    headers = _headers_of(request)
    assertion = headers.get(HEADER) or headers.get(HEADER.lower())
    if not assertion:
        raise TokenHookError("invalid_request", "no %s header: is the app behind tokenhook?" % HEADER)
    base_url = (base_url or os.environ.get("TOKENHOOK_URL") or "http://127.0.0.1:4180").rstrip("/")
    secret = secret if secret is not None else os.environ.get("TOKENHOOK_EXCHANGE_SECRET", "")

    key = (_claims(assertion).get("sid"), connection, base_url)
    now = time.time()
    with _lock:
        hit = _cache.get(key)
        if hit and hit[1] > now:
            return hit[0]

    body = urllib.parse.urlencode({
        "grant_type": GRANT_TYPE,
        "subject_token": assertion,
        "subject_token_type": SUBJECT_TOKEN_TYPE,
        "audience": connection,
    }).encode("ascii")
    req = urllib.request.Request(base_url + "/_tokenhook/exchange", data=body, method="POST")
    req.add_header("Content-Type", "application/x-www-form-urlencoded")
    req.add_header("Accept", "application/json")
    if secret:
        basic = base64.b64encode(("upstream:" + secret).encode("utf-8")).decode("ascii")
        req.add_header("Authorization", "Basic " + basic)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            answer = json.load(resp)
    except urllib.error.HTTPError as e:
        try:
            err = json.load(e)
        except ValueError:
            err = {}
        code, desc = err.get("error", "http_%d" % e.code), err.get("error_description", "")
        if code == "invalid_target" and err.get("connect_url"):
            raise ConnectionRequired(desc, err["connect_url"], e.code) from None
        raise TokenHookError(code, desc, e.code) from None
    except urllib.error.URLError as e:
        raise TokenHookError("unreachable", "cannot reach tokenhook at %s: %s" % (base_url, e.reason)) from None

    token = answer["access_token"]
    ttl = max(0, int(answer.get("expires_in", 0)) - 30)
    with _lock:
        if len(_cache) > 1000:
            _cache.clear()
        _cache[key] = (token, now + ttl)
    return token


if __name__ == "__main__":
    # Command line, for scripts and tests:
    #   X_TOKENHOOK_SESSION=<assertion> python3 tokenhook_credentials.py <connection>
    import sys

    if len(sys.argv) != 2:
        sys.exit("usage: X_TOKENHOOK_SESSION=<assertion> tokenhook_credentials.py CONNECTION")
    try:
        tok = get_user_token(sys.argv[1], {HEADER: os.environ.get("X_TOKENHOOK_SESSION", "")})
    except ConnectionRequired as e:
        print(json.dumps({"error": e.error, "connect_url": e.connect_url}))
        sys.exit(3)
    except TokenHookError as e:
        print(json.dumps({"error": e.error, "error_description": e.description}))
        sys.exit(2)
    print(json.dumps({"access_token": tok}))
