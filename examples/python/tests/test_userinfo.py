"""tokenhook.userinfo against a real loopback HTTP server standing in for
an OpenID provider: discovery, then the userinfo endpoint with the token."""

from __future__ import annotations

import json
import threading
from typing import Any, Callable, Iterator

import pytest

import tokenhook
from tokenhook import _userinfo
from tokenhook._userinfo import DISCOVERY_PATH, MAX_DOCUMENT

from httpserve import serve

TOKEN = "tok-3f9a7c"
JSON = {"Content-Type": "application/json"}
Answer = tuple[int, dict[str, str], bytes]


class Provider:
    """A provider whose userinfo answer (and discovery document) a test
    sets; it records the headers of every request by path, and the paths
    asked in order."""

    def __init__(self) -> None:
        self.url, self.stop = serve(self._answer)
        self.seen: dict[str, dict[str, str]] = {}
        self.calls: list[str] = []
        self.meta: dict[str, Any] = {"issuer": self.url, "userinfo_endpoint": self.url + "/userinfo"}
        self.routes: dict[str, Callable[[], Answer]] = {
            "/.well-known/openid-configuration": lambda: (200, JSON, json.dumps(self.meta).encode()),
            "/userinfo": self._userinfo,
        }

    def answer(self, path: str, answer: Answer) -> None:
        """Makes the provider answer ``path`` with ``answer``."""
        self.routes[path] = lambda: answer

    def _answer(self, path: str, headers: dict[str, str]) -> Answer:
        self.seen[path] = headers
        self.calls.append(path)
        route = self.routes.get(path)
        return route() if route else (404, {}, b"")

    def _userinfo(self) -> Answer:
        if self.seen["/userinfo"].get("authorization") != "Bearer " + TOKEN:
            return 401, {"WWW-Authenticate": 'Bearer error="invalid_token"'}, b""
        return 200, JSON, json.dumps({"sub": "u1", "email": "v@example.com"}).encode()


@pytest.fixture
def idp() -> Iterator[Provider]:
    p = Provider()
    yield p
    p.stop()


@pytest.fixture(autouse=True)
def forget_endpoints() -> Iterator[None]:
    """Each test starts with no remembered endpoint (a new provider may get
    a port, and so an issuer URL, an earlier test's provider had)."""
    _userinfo._endpoints.clear()
    yield
    _userinfo._endpoints.clear()


def test_userinfo_asks_with_the_bearer(idp: Provider) -> None:
    assert tokenhook.userinfo(TOKEN, idp.url + "/", timeout=5) == {"sub": "u1", "email": "v@example.com"}
    assert idp.seen["/userinfo"]["authorization"] == "Bearer " + TOKEN
    assert "authorization" not in idp.seen["/.well-known/openid-configuration"]


def test_userinfo_reads_up_to_one_mebibyte(idp: Provider) -> None:
    def body(size: int) -> bytes:
        head = b'{"email": "v@example.com", "pad": "'
        return head + b"x" * (size - len(head) - 2) + b'"}'

    idp.answer("/userinfo", (200, JSON, body(MAX_DOCUMENT)))
    assert tokenhook.userinfo(TOKEN, idp.url, timeout=5)["email"] == "v@example.com"
    idp.answer("/userinfo", (200, JSON, body(MAX_DOCUMENT + 1)))
    with pytest.raises(tokenhook.ProviderError) as e:
        tokenhook.userinfo(TOKEN, idp.url, timeout=5)
    assert e.value.error == "invalid_response" and "more than" in str(e.value)


def test_userinfo_does_not_follow_a_redirect_with_the_token(idp: Provider) -> None:
    idp.answer("/userinfo", (302, {"Location": "/elsewhere"}, b""))
    idp.answer("/elsewhere", (200, JSON, b'{"email": "v@example.com"}'))
    tokenhook.userinfo(TOKEN, idp.url, timeout=5)
    assert idp.seen["/userinfo"]["authorization"] == "Bearer " + TOKEN
    assert "authorization" not in idp.seen["/elsewhere"]


@pytest.mark.parametrize("change,error,status,says", [
    ({"/userinfo": (401, {}, b'{"error": "invalid_token"}')}, "refused", 401, "userinfo endpoint at"),
    ({"/userinfo": (200, JSON, b"<html>sign in</html>")}, "invalid_response", 0, "no JSON object"),
    ({"/userinfo": (200, JSON, b'["a list"]')}, "invalid_response", 0, "no JSON object"),
    ({"/.well-known/openid-configuration": (500, {}, b"")}, "refused", 500, "OpenID discovery"),
    ({"/.well-known/openid-configuration": (200, JSON, b'{"issuer": "ISSUER"}')},
     "invalid_response", 0, "names no userinfo_endpoint"),
    ({"/.well-known/openid-configuration": (200, JSON, b'{"issuer": "https://other.example", '
                                                       b'"userinfo_endpoint": "USERINFO"}')},
     "invalid_response", 0, "is for issuer 'https://other.example'"),
])
def test_userinfo_errors(idp: Provider, change: dict[str, Answer], error: str, status: int, says: str) -> None:
    for path, (st, headers, body) in change.items():
        body = body.replace(b"ISSUER", idp.url.encode()).replace(b"USERINFO", idp.url.encode() + b"/userinfo")
        idp.answer(path, (st, headers, body))
    with pytest.raises(tokenhook.ProviderError) as e:
        tokenhook.userinfo(TOKEN, idp.url, timeout=5)
    assert (e.value.error, e.value.status) == (error, status)
    assert says in str(e.value) and TOKEN not in str(e.value)
    assert isinstance(e.value, tokenhook.TokenHookError)
    if "issuer" in says:
        assert "/userinfo" not in idp.seen  # the token went nowhere


def test_userinfo_times_out(idp: Provider) -> None:
    release = threading.Event()
    idp.routes["/userinfo"] = lambda: (release.wait(10), (200, JSON, b"{}"))[1]
    try:
        with pytest.raises(tokenhook.ProviderError) as e:
            tokenhook.userinfo(TOKEN, idp.url, timeout=0.5)
    finally:
        release.set()
    assert e.value.error == "unreachable" and "userinfo endpoint" in str(e.value)


def test_userinfo_unreachable_and_bad_arguments() -> None:
    with pytest.raises(tokenhook.ProviderError) as e:
        tokenhook.userinfo(TOKEN, "http://127.0.0.1:9", timeout=2)
    assert e.value.error == "unreachable" and "http://127.0.0.1:9" in str(e.value)
    for token, issuer in (("", "http://127.0.0.1:9"), (TOKEN, "")):
        with pytest.raises(tokenhook.TokenHookError) as e2:
            tokenhook.userinfo(token, issuer)
        assert e2.value.error == "invalid_request"


def test_userinfo_remembers_the_endpoint(idp: Provider) -> None:
    for _ in range(3):
        assert tokenhook.userinfo(TOKEN, idp.url, timeout=5)["sub"] == "u1"
    assert idp.calls == [DISCOVERY_PATH, "/userinfo", "/userinfo", "/userinfo"]


@pytest.mark.parametrize("discovery", [
    (500, {}, b""),
    (200, JSON, b'{"issuer": "https://other.example", "userinfo_endpoint": "https://other.example/userinfo"}'),
    (200, JSON, b'{"issuer": "ISSUER"}'),
    (200, JSON, b'["a list"]'),
])
def test_userinfo_does_not_remember_a_failed_discovery(idp: Provider, discovery: Answer) -> None:
    st, headers, body = discovery
    idp.answer(DISCOVERY_PATH, (st, headers, body.replace(b"ISSUER", idp.url.encode())))
    with pytest.raises(tokenhook.ProviderError):
        tokenhook.userinfo(TOKEN, idp.url, timeout=5)
    idp.answer(DISCOVERY_PATH, (200, JSON, json.dumps(idp.meta).encode()))
    assert tokenhook.userinfo(TOKEN, idp.url, timeout=5)["sub"] == "u1"
    assert idp.calls == [DISCOVERY_PATH, DISCOVERY_PATH, "/userinfo"]


def test_userinfo_discovers_again_after_the_endpoint_failed(idp: Provider) -> None:
    tokenhook.userinfo(TOKEN, idp.url, timeout=5)
    # Refusing the token says nothing about the endpoint: it is kept.
    with pytest.raises(tokenhook.ProviderError):
        tokenhook.userinfo("another-token", idp.url, timeout=5)
    # The provider moved its endpoint: the old one answers 404.
    idp.meta["userinfo_endpoint"] = idp.url + "/v2/userinfo"
    idp.routes["/v2/userinfo"] = idp.routes.pop("/userinfo")
    with pytest.raises(tokenhook.ProviderError) as e:
        tokenhook.userinfo(TOKEN, idp.url, timeout=5)
    assert e.value.status == 404
    assert tokenhook.userinfo(TOKEN, idp.url, timeout=5)["sub"] == "u1"
    assert idp.calls == [DISCOVERY_PATH, "/userinfo", "/userinfo", "/userinfo", DISCOVERY_PATH, "/v2/userinfo"]


def test_userinfo_endpoint_expires(idp: Provider, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_userinfo, "ENDPOINT_TTL", 0.0)
    tokenhook.userinfo(TOKEN, idp.url, timeout=5)
    tokenhook.userinfo(TOKEN, idp.url, timeout=5)
    assert idp.calls == [DISCOVERY_PATH, "/userinfo", DISCOVERY_PATH, "/userinfo"]


def test_userinfo_remembers_few_issuers(idp: Provider, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_userinfo, "ENDPOINTS_KEPT", 1)
    other = Provider()
    try:
        for p in (idp, other, idp, idp):
            tokenhook.userinfo(TOKEN, p.url, timeout=5)
    finally:
        other.stop()
    assert len(_userinfo._endpoints) == 1
    # idp's endpoint was forgotten when other's came in, then kept again.
    assert idp.calls == [DISCOVERY_PATH, "/userinfo", DISCOVERY_PATH, "/userinfo", "/userinfo"]
