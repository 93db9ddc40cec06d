"""RFC 8693 token exchange at tokenhook, with a bounded in-memory cache."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Optional

from ._errors import ConnectionRequired, TokenHookError
from ._settings import Settings

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
SUBJECT_TOKEN_TYPE = "urn:tokenhook:params:oauth:token-type:session"
EXCHANGE_PATH = "/_tokenhook/exchange"
MAX_ANSWER = 64 << 10  # bytes read from tokenhook at most
#: A cached token is used until this many seconds before it expires.
EARLY = 30.0
#: A cached token is used for at most this many seconds, so a session that
#: ended (logout) is noticed within this time even with a WebSocket upgrade's
#: assertion, which tokenhook signs for the session's whole life.
MAX_AGE = 300.0


@dataclass(frozen=True)
class _Entry:
    token: str
    expires: float  # time.monotonic() after which the entry is stale


class Exchanger:
    """Exchanges session assertions for connection tokens and caches them.

    Entries are keyed by the assertion itself (a hash of it) and the
    connection. ``fetch`` does the exchange (default :func:`exchange`);
    ``clock`` and ``wall`` are the monotonic and the Unix clock. tokenhook signs the assertion for one viewer's session, so
    an entry can only ever be found by a request of that viewer, and it
    never outlives the assertion, the token (minus :data:`EARLY` seconds)
    nor :data:`MAX_AGE` (tokenhook checks the session at each exchange). At most ``max_entries`` are kept; stale ones
    go first, then the oldest. Safe to share between threads; concurrent
    calls for the same key exchange once.
    """

    def __init__(self, max_entries: int = 10000, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time,
                 fetch: Optional[Callable[[str, str, Settings], dict[str, Any]]] = None) -> None:
        self._max = max_entries
        self._fetch = fetch or exchange
        self._clock = clock
        self._wall = wall
        self._lock = threading.Lock()
        self._entries: "OrderedDict[tuple[str, str, str], _Entry]" = OrderedDict()
        self._inflight: dict[tuple[str, str, str], threading.Lock] = {}

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def token(self, assertion: str, connection: str, settings: Settings) -> str:
        """The viewer's access token for ``connection``, from the cache or a
        fresh exchange."""
        key = (hashlib.sha256(assertion.encode()).hexdigest(), connection, settings.url)
        hit = self._get(key)
        if hit is not None:
            return hit
        with self._lock:
            flight = self._inflight.setdefault(key, threading.Lock())
        try:
            with flight:
                hit = self._get(key)  # another thread may have just fetched it
                if hit is not None:
                    return hit
                answer = self._fetch(assertion, connection, settings)
                self._put(key, answer, assertion)
                return str(answer["access_token"])
        finally:
            with self._lock:
                if not flight.locked():
                    self._inflight.pop(key, None)

    def clear(self) -> None:
        """Forget every cached token."""
        with self._lock:
            self._entries.clear()

    def _get(self, key: tuple[str, str, str]) -> str | None:
        now = self._clock()
        with self._lock:
            e = self._entries.get(key)
            if e is None:
                return None
            if now >= e.expires:
                del self._entries[key]
                return None
            return e.token

    def _put(self, key: tuple[str, str, str], answer: dict[str, Any], assertion: str) -> None:
        now = self._clock()
        ttl = float(answer.get("expires_in") or 0) - EARLY
        # tokenhook checked the assertion, so its exp is genuine: the entry
        # (keyed by this assertion) must not outlive it.
        exp = _unverified_exp(assertion)
        if exp is not None:
            ttl = min(ttl, exp - self._wall())
        ttl = min(ttl, MAX_AGE)
        if ttl <= 0:
            return
        with self._lock:
            if key not in self._entries and len(self._entries) >= self._max:
                for k in [k for k, e in self._entries.items() if now >= e.expires]:
                    del self._entries[k]
                while len(self._entries) >= self._max:
                    self._entries.popitem(last=False)
            self._entries[key] = _Entry(str(answer["access_token"]), now + ttl)
            self._entries.move_to_end(key)


def _unverified_exp(assertion: str) -> float | None:
    try:
        payload = assertion.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        exp = claims.get("exp")
        return float(exp) if isinstance(exp, (int, float)) else None
    except (IndexError, ValueError, AttributeError):
        return None


def exchange(assertion: str, connection: str, settings: Settings) -> dict[str, Any]:
    """One RFC 8693 exchange at tokenhook: the answer's JSON object.

    Raises :class:`ConnectionRequired` when the viewer has not linked the
    connection and :class:`TokenHookError` for every other failure.
    """
    body = urllib.parse.urlencode({
        "grant_type": GRANT_TYPE,
        "subject_token": assertion,
        "subject_token_type": SUBJECT_TOKEN_TYPE,
        "audience": connection,
    }).encode("ascii")
    req = urllib.request.Request(settings.url + EXCHANGE_PATH, data=body, method="POST")
    req.add_header("Content-Type", "application/x-www-form-urlencoded")
    req.add_header("Accept", "application/json")
    if settings.exchange_secret:
        basic = base64.b64encode(("app:" + settings.exchange_secret).encode()).decode("ascii")
        req.add_header("Authorization", "Basic " + basic)
    try:
        with urllib.request.urlopen(req, timeout=settings.timeout) as resp:
            answer = _json(resp.read(MAX_ANSWER))
    except urllib.error.HTTPError as e:
        err = _json(e.read(MAX_ANSWER))
        code = str(err.get("error") or f"http_{e.code}")
        desc = str(err.get("error_description") or "")
        if code == "invalid_target" and err.get("connect_url"):
            raise ConnectionRequired(connection, str(err["connect_url"]), desc, e.code) from None
        if code == "invalid_client":
            desc = "tokenhook refused the exchange secret: set TOKENHOOK_EXCHANGE_SECRET to its --exchange-secret"
        elif code == "access_denied" and e.code == 403:
            desc += " (set TOKENHOOK_EXCHANGE_SECRET, or run tokenhook on this host)"
        raise TokenHookError(code, desc, e.code) from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise TokenHookError(
            "unreachable", f"cannot reach tokenhook at {settings.url} ({reason}): set TOKENHOOK_URL"
        ) from None
    if not isinstance(answer.get("access_token"), str) or not answer["access_token"]:
        raise TokenHookError("invalid_response", f"tokenhook at {settings.url} answered without an access_token")
    return answer


def _json(raw: bytes) -> dict[str, Any]:
    try:
        v = json.loads(raw)
    except ValueError:
        return {}
    return v if isinstance(v, dict) else {}
