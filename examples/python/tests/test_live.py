"""The package against a real tokenhook (built from this repository) with its
development provider (examples/devidp, real Dex): a viewer signs in over
HTTP, an upstream app records the assertion tokenhook forwards, and the
package verifies and exchanges it.

Needs Go; skips without it, except when CI=true (then it fails).
"""

from __future__ import annotations

import html
import os
import re
import secrets
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any, Iterator

import pytest

import tokenhook

from httpserve import serve

REPO = Path(__file__).resolve().parents[3]
EMAIL, PASSWORD = "demo@example.com", "demo"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


class Upstream:
    """The app behind tokenhook: remembers the headers of the last request."""

    def __init__(self) -> None:
        self.headers: dict[str, str] = {}
        self.url, self.stop = serve(self._answer)

    def _answer(self, _path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        self.headers = headers
        return 200, {"Content-Type": "text/html"}, b"<p>report</p>"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    go = shutil.which("go")
    if go is None or not (REPO / "go.mod").exists():
        if os.environ.get("CI") == "true":
            pytest.fail("Go and the repository are needed for the live tests (CI=true)")
        pytest.skip("Go or the repository is missing")
    tmp = tmp_path_factory.mktemp("live")
    for pkg, name in (("./cmd/tokenhook", "tokenhook"), ("./examples/devidp", "devidp")):
        subprocess.run([go, "build", "-o", str(tmp / name), pkg], cwd=REPO, check=True, timeout=600)
    idp_port, th_port = free_port(), free_port()
    th_url = f"http://127.0.0.1:{th_port}"
    issuer = f"http://127.0.0.1:{idp_port}/dex"
    upstream = Upstream()
    secret = secrets.token_hex(16)
    config = tmp / "tokenhook.yaml"
    config.write_text(
        f"""addr: 127.0.0.1:{th_port}
public-url: {th_url}
issuer: {issuer}
client-id: examples
client-secret: examples-dev-secret
scopes: [openid, email, profile, offline_access]
cookie-secret: {secrets.token_hex(32)}
data-dir: ""
upstream: {upstream.url}
exchange-secret: {secret}
connections:
  - name: data
    preset: oidc
    issuer: {issuer}
    client-id: examples
    client-secret: examples-dev-secret
"""
    )
    procs = [
        subprocess.Popen([str(tmp / "devidp"), "--addr", f"127.0.0.1:{idp_port}", "--tokenhook-url", th_url],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]
    try:
        wait_http(issuer + "/.well-known/openid-configuration")
        procs.append(subprocess.Popen([str(tmp / "tokenhook"), "serve", "--config", str(config)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_http(th_url + "/_tokenhook/readyz")
        yield {
            "url": th_url, "upstream": upstream, "issuer": issuer,
            "settings": tokenhook.Settings(url=th_url, exchange_secret=secret, issuer=th_url,
                                           audience=upstream.url, timeout=10),
        }
    finally:
        for p in procs:  # only the processes this fixture started
            p.terminate()
            p.wait(10)
        upstream.stop()


def sign_in(th_url: str) -> urllib.request.OpenerDirector:
    """Signs the development user in over HTTP, as a browser would; the
    opener keeps tokenhook's session cookie."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    opener.addheaders = [("Accept", "text/html")]
    with opener.open(th_url + "/_tokenhook/login?rd=%2F", timeout=10) as resp:
        page, at = resp.read(1 << 20).decode(), resp.geturl()
    m = re.search(r'<form[^>]*action="([^"]+)"', page)
    assert m, f"no login form at {at}"
    action = urllib.parse.urljoin(at, html.unescape(m.group(1)))
    body = urllib.parse.urlencode({"login": EMAIL, "password": PASSWORD}).encode()
    with opener.open(action, data=body, timeout=10) as resp:
        assert resp.geturl() == th_url + "/", resp.geturl()
    return opener


def assertion_of_a_page_load(live: dict[str, Any], opener: urllib.request.OpenerDirector) -> dict[str, str]:
    with opener.open(live["url"] + "/report", timeout=10):
        pass
    headers = dict(live["upstream"].headers)
    assert headers.get("x-tokenhook-session"), "tokenhook forwarded no assertion"
    return headers


def test_current_user_is_verified(live: dict[str, Any]) -> None:
    headers = assertion_of_a_page_load(live, sign_in(live["url"]))
    user = tokenhook.current_user(headers, settings=live["settings"])
    assert user.email == EMAIL and user.subject and user.claims["iss"] == live["url"]
    # The same assertion, checked for another app, is refused.
    other = tokenhook.Settings(**{**live["settings"].__dict__, "audience": "http://127.0.0.1:1"})
    with pytest.raises(tokenhook.TokenHookError) as e:
        tokenhook.current_user(headers, settings=other)
    assert "TOKENHOOK_AUDIENCE" in str(e.value)


def test_get_user_token_exchanges_at_tokenhook(live: dict[str, Any]) -> None:
    opener = sign_in(live["url"])
    headers = assertion_of_a_page_load(live, opener)
    token = tokenhook.get_user_token("signin", headers, settings=live["settings"])
    # The token is the viewer's: the provider's userinfo endpoint accepts it.
    assert tokenhook.userinfo(token, live["issuer"])["email"] == EMAIL
    with pytest.raises(tokenhook.ConnectionRequired) as e:
        tokenhook.get_user_token("data", headers, settings=live["settings"])
    assert e.value.connect_url == live["url"] + "/_tokenhook/connect/data"
    wrong = tokenhook.Settings(**{**live["settings"].__dict__, "exchange_secret": "wrong"})
    with pytest.raises(tokenhook.TokenHookError) as e2:
        tokenhook.get_user_token("signin", {"X-TokenHook-Session": headers["x-tokenhook-session"] + "x"},
                                 settings=wrong)
    assert e2.value.error == "invalid_client" and "TOKENHOOK_EXCHANGE_SECRET" in str(e2.value)


def test_forged_assertion_is_refused(live: dict[str, Any]) -> None:
    headers = assertion_of_a_page_load(live, sign_in(live["url"]))
    head, payload, sig = headers["x-tokenhook-session"].split(".")
    forged = {"X-TokenHook-Session": f"{head}.{payload}.{sig[:-4]}AAAA"}
    with pytest.raises(tokenhook.TokenHookError) as e:
        tokenhook.get_user_token("signin", forged, settings=live["settings"])
    assert e.value.error == "invalid_grant"
    with pytest.raises(tokenhook.TokenHookError) as e2:
        tokenhook.current_user(forged, settings=live["settings"])
    assert e2.value.error == "invalid_assertion"
