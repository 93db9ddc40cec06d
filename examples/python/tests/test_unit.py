"""Unit tests: header lookup, the token cache, the Dash page rewrite, and
assertion verification against keys served over HTTP."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import tokenhook
from tokenhook import dash as thdash
from tokenhook._exchange import Exchanger
from tokenhook._request import assertion, header, headers_of
from tokenhook._verify import Verifier

from httpserve import serve

SETTINGS = tokenhook.Settings(url="http://127.0.0.1:9", issuer="https://th.example", audience="http://app:8050")


def fake_assertion(exp: float, sid: str = "s1") -> str:
    """An unsigned JWT-shaped string with the given exp (the cache reads exp only)."""
    def b64(d: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")
    return b64({"alg": "EdDSA"}) + "." + b64({"exp": exp, "sid": sid}) + ".sig"


@pytest.mark.parametrize("headers,want", [
    ({"X-TokenHook-Session": "a"}, "a"),
    ({"x-tokenhook-session": "b"}, "b"),
    ({"X-Tokenhook-Session": ["old", "c"]}, "c"),  # Bokeh keeps lists
    ({"X-TOKENHOOK-SESSION": b"d"}, "d"),
    ({"Other": "x"}, ""),
    ({}, ""),
])
def test_header(headers: dict[str, Any], want: str) -> None:
    assert header(headers) == want


def test_headers_of_request_objects() -> None:
    class Req:
        headers = {"X-TokenHook-Session": "r"}

    class Conn:
        headers = {"x-tokenhook-session": "s"}

    class ShinySession:
        http_conn = Conn()

    assert header(headers_of(Req())) == "r"
    assert header(headers_of(ShinySession())) == "s"
    with pytest.raises(tokenhook.TokenHookError) as e:
        headers_of(42)
    assert e.value.error == "no_request"


def test_no_current_request_says_what_to_do() -> None:
    with pytest.raises(tokenhook.TokenHookError) as e:
        tokenhook.get_user_token("data")
    assert e.value.error == "no_request" and "request=" in str(e.value)


def test_missing_assertion_says_what_to_do() -> None:
    with pytest.raises(tokenhook.TokenHookError) as e:
        assertion({"Authorization": "Bearer x"})
    assert e.value.error == "not_behind_tokenhook" and "tokenhook serve" in str(e.value)


def test_flask_request_is_found() -> None:
    flask = pytest.importorskip("flask")
    app = flask.Flask(__name__)
    with app.test_request_context("/", headers={"X-TokenHook-Session": "from-flask"}):
        assert assertion() == "from-flask"


def test_asgi_middleware_exposes_headers() -> None:
    from tokenhook.asgi import RequestContext

    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(assertion())

    async def receive() -> dict[str, Any]:
        return {"type": "http.request"}

    async def send(_message: Any) -> None:
        pass

    for kind in ("http", "websocket"):
        scope = {"type": kind, "headers": [(b"x-tokenhook-session", kind.encode())]}
        asyncio.run(RequestContext(app)(scope, receive, send))
    assert seen == ["http", "websocket"]
    with pytest.raises(tokenhook.TokenHookError):
        assertion()  # gone after the request


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_cache_reuses_until_shortly_before_expiry() -> None:
    calls: list[str] = []
    clock = Clock()

    def fetch(a: str, conn: str, s: tokenhook.Settings) -> dict[str, Any]:
        calls.append(conn)
        return {"access_token": f"tok{len(calls)}", "expires_in": 300}

    ex = Exchanger(clock=clock, wall=lambda: 0.0, fetch=fetch)
    a = fake_assertion(exp=10_000)
    assert ex.token(a, "data", SETTINGS) == "tok1"
    clock.now += 200
    assert ex.token(a, "data", SETTINGS) == "tok1"
    assert ex.token(a, "other", SETTINGS) == "tok2"  # per connection
    clock.now += 80  # 280 s: within 30 s of expiry
    assert ex.token(a, "data", SETTINGS) == "tok3"


@pytest.mark.parametrize(
    "assertion_life, reused_for",
    [
        (60, 60),  # never longer than the assertion lives
        # A WebSocket upgrade's assertion lives as long as the session; the
        # cache still asks tokenhook (which checks the session) every 5 minutes.
        (7 * 24 * 3600, 300),
    ],
)
def test_cache_never_outlives_the_assertion_nor_five_minutes(assertion_life: int, reused_for: int) -> None:
    calls: list[int] = []
    clock = Clock()
    wall = Clock()
    wall.now = 5000.0

    def fetch(a: str, conn: str, s: tokenhook.Settings) -> dict[str, Any]:
        calls.append(1)
        return {"access_token": "t", "expires_in": 3600}

    ex = Exchanger(clock=clock, wall=wall, fetch=fetch)
    a = fake_assertion(exp=wall.now + assertion_life)
    ex.token(a, "data", SETTINGS)
    clock.now += reused_for - 1
    ex.token(a, "data", SETTINGS)
    assert len(calls) == 1
    clock.now += 2
    ex.token(a, "data", SETTINGS)
    assert len(calls) == 2


def test_cache_is_per_assertion() -> None:
    def fetch(a: str, conn: str, s: tokenhook.Settings) -> dict[str, Any]:
        return {"access_token": "for-" + a[-8:], "expires_in": 300}

    ex = Exchanger(fetch=fetch, wall=lambda: 0.0)
    a, b = fake_assertion(10_000, "s1") + "AAAAAAAA", fake_assertion(10_000, "s1") + "BBBBBBBB"
    # Same (unverified) sid, different assertions: a forged copy of one
    # viewer's claims never finds another viewer's token.
    assert ex.token(a, "data", SETTINGS) != ex.token(b, "data", SETTINGS)


def test_cache_is_bounded() -> None:
    def fetch(a: str, conn: str, s: tokenhook.Settings) -> dict[str, Any]:
        return {"access_token": a, "expires_in": 300}

    ex = Exchanger(max_entries=50, fetch=fetch, wall=lambda: 0.0)
    for i in range(500):
        ex.token(fake_assertion(10_000, f"s{i}"), "data", SETTINGS)
    assert len(ex) == 50


def test_concurrent_calls_exchange_once() -> None:
    calls: list[int] = []
    gate = threading.Event()

    def fetch(a: str, conn: str, s: tokenhook.Settings) -> dict[str, Any]:
        calls.append(1)
        gate.wait(5)
        return {"access_token": "t", "expires_in": 300}

    ex = Exchanger(fetch=fetch, wall=lambda: 0.0)
    a = fake_assertion(10_000)
    out: list[str] = []
    threads = [threading.Thread(target=lambda: out.append(ex.token(a, "data", SETTINGS))) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    gate.set()
    for t in threads:
        t.join(5)
    assert out == ["t"] * 8 and len(calls) == 1


def test_unreachable_tokenhook_names_the_setting() -> None:
    with pytest.raises(tokenhook.TokenHookError) as e:
        tokenhook.get_user_token("data", {"X-TokenHook-Session": fake_assertion(10_000)},
                                 settings=tokenhook.Settings(url="http://127.0.0.1:9", timeout=2))
    assert e.value.error == "unreachable" and "TOKENHOOK_URL" in str(e.value)


# A page as Dash renders it (the parts the plugin looks at).
DASH_PAGE = """<html><head></head><body>
<div id="react-entry-point"></div>
<footer>
<script id="_dash-config" type="application/json">{}</script>
<script src="/_dash-component-suites/dash/dash-renderer/build/dash_renderer.min.js"></script>
<script id="_dash-renderer" type="application/javascript">var renderer = new DashRenderer({request_pre: mine});</script>
</footer></body></html>"""


def test_dash_index_adds_script_and_wrapper_before_the_renderer() -> None:
    out = thdash.index(DASH_PAGE)
    script = out.index('<script src="/_tokenhook/tokenhook.js">')
    wrapper = out.index('<script id="tokenhook-dash-renderer">')
    renderer = out.index('<script id="_dash-renderer"')
    assert out.index("dash_renderer.min.js") < script < wrapper < renderer
    # The app's own renderer line is kept as it was.
    assert "new DashRenderer({request_pre: mine});" in out
    assert thdash.index(out) == out  # once


def test_dash_index_keeps_an_app_listed_script_single() -> None:
    page = DASH_PAGE.replace("<footer>", '<footer><script src="/_tokenhook/tokenhook.js"></script>')
    assert thdash.index(page).count("/_tokenhook/tokenhook.js") == 1


def test_dash_index_leaves_other_pages_alone() -> None:
    assert thdash.index("<html>no renderer</html>") == "<html>no renderer</html>"


@pytest.fixture(scope="module")
def keys() -> Iterator[tuple[Ed25519PrivateKey, str]]:
    """A key and the URL of a server publishing it like tokenhook's
    /_tokenhook/jwks.json."""
    key = Ed25519PrivateKey.generate()
    jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="k1", alg="EdDSA", use="sig")
    body = json.dumps({"keys": [jwk]}).encode()
    url, stop = serve(lambda path, _h: (200 if path == "/_tokenhook/jwks.json" else 404, {"Content-Type": "application/jwk-set+json"}, body))
    yield key, url
    stop()


def sign(key: Ed25519PrivateKey, typ: str = "tokenhook-session+jwt", alg: str = "EdDSA", **over: Any) -> str:
    now = int(time.time())
    claims = {"iss": "https://th.example", "aud": ["http://app:8050"], "sub": "u1", "email": "v@example.com",
              "sid": "s1", "iat": now, "exp": now + 300}
    claims.update(over)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": "k1", "typ": typ})


@pytest.mark.parametrize("change,want_error", [
    ({}, None),
    ({"iss": "https://evil.example"}, "TOKENHOOK_ISSUER"),
    ({"aud": ["http://other:1"]}, "TOKENHOOK_AUDIENCE"),
    ({"exp": int(time.time()) - 60}, "expired"),
    ({"sid": None}, "sid"),
])
def test_verify(keys: tuple[Ed25519PrivateKey, str], change: dict[str, Any], want_error: str | None) -> None:
    key, url = keys
    s = tokenhook.Settings(url=url, issuer="https://th.example", audience="http://app:8050", timeout=5)
    raw = sign(key, **change)
    if want_error is None:
        u = Verifier().verify(raw, s)
        assert (u.subject, u.email, u.claims["sid"]) == ("u1", "v@example.com", "s1")
        assert u.expires == datetime.fromtimestamp(jwt.decode(raw, options={"verify_signature": False})["exp"], timezone.utc)
        return
    with pytest.raises(tokenhook.TokenHookError) as e:
        Verifier().verify(raw, s)
    assert want_error in str(e.value)


def test_verify_refuses_other_keys_and_types(keys: tuple[Ed25519PrivateKey, str]) -> None:
    key, url = keys
    s = tokenhook.Settings(url=url, issuer="https://th.example", audience="http://app:8050", timeout=5)
    v = Verifier()
    for raw in (sign(Ed25519PrivateKey.generate()), sign(key, typ="JWT")):
        with pytest.raises(tokenhook.TokenHookError) as e:
            v.verify(raw, s)
        assert e.value.error == "invalid_assertion"


def test_verify_needs_the_audience_setting() -> None:
    with pytest.raises(tokenhook.TokenHookError) as e:
        Verifier().verify("x.y.z", tokenhook.Settings())
    assert e.value.error == "configuration" and "TOKENHOOK_AUDIENCE" in str(e.value)


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKENHOOK_URL", "http://th:4180/")
    monkeypatch.setenv("TOKENHOOK_EXCHANGE_SECRET", "s3")
    monkeypatch.delenv("TOKENHOOK_ISSUER", raising=False)
    monkeypatch.setenv("TOKENHOOK_TIMEOUT", "3")
    s = tokenhook.Settings.from_env()
    assert (s.url, s.exchange_secret, s.issuer, s.timeout) == ("http://th:4180", "s3", "http://th:4180", 3.0)
    monkeypatch.setenv("TOKENHOOK_TIMEOUT", "soon")
    with pytest.raises(tokenhook.TokenHookError):
        tokenhook.Settings.from_env()


def test_requirements_are_pinned() -> None:
    path = Path(__file__).resolve().parents[1] / "requirements.txt"
    lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert lines and all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.]*", ln) for ln in lines), lines
