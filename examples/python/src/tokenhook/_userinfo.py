"""Asking the OpenID provider's userinfo endpoint with the viewer's token."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from typing import Any

from ._errors import TokenHookError

DISCOVERY_PATH = "/.well-known/openid-configuration"
MAX_DOCUMENT = 1 << 20  # bytes read from the provider at most
ENDPOINTS_KEPT = 32  # issuers whose userinfo endpoint is remembered at most
ENDPOINT_TTL = 3600.0  # seconds a discovered userinfo endpoint is used before discovery runs again

# issuer -> (its userinfo endpoint, time.monotonic() of the discovery), least
# recently used first.
_endpoints: OrderedDict[str, tuple[str, float]] = OrderedDict()
_endpoints_lock = threading.Lock()


class ProviderError(TokenHookError):
    """The identity provider refused a call, could not be reached, or
    answered something that is not what OpenID Connect says.

    ``error`` is ``refused`` (``status`` holds the provider's HTTP status:
    401 or 403 at the userinfo endpoint mean it did not accept the token),
    ``unreachable`` or ``invalid_response``. The message names the URL
    called, never the token.
    """


def userinfo(token: str, issuer: str, *, timeout: float = 10.0) -> dict[str, Any]:
    """What the identity provider says about the holder of ``token``.

    Finds the userinfo endpoint by OpenID discovery at ``issuer`` (whose
    document must name the same issuer), then asks it with
    ``Authorization: Bearer <token>``. The token is sent to that endpoint
    only: not in a URL, and not on to where a redirect points. Each of the
    two calls has ``timeout`` seconds; each answer is read up to 1 MiB.
    The endpoint is remembered for an hour (for 32 issuers at most), so
    later calls make one request; a failed discovery is not remembered,
    and an endpoint that fails (other than by refusing the token) is
    discovered again on the next call.

    Args:
        token: an access token of the provider, such as
            ``get_user_token("signin")``.
        issuer: the provider's issuer URL (``iss`` of its tokens).
        timeout: seconds for each call.

    Returns:
        The provider's claims about the viewer (``sub``, ``email`` …).

    Raises:
        ProviderError: the provider refused the token (``status`` 401),
            could not be reached, or answered no JSON object.
        TokenHookError: ``token`` or ``issuer`` is empty.

    Example::

        token = tokenhook.get_user_token("signin")
        email = tokenhook.userinfo(token, "https://idp.example.com")["email"]
    """
    if not token or not issuer:
        raise TokenHookError("invalid_request", "pass the viewer's access token and the provider's issuer URL")
    issuer = issuer.rstrip("/")
    req = urllib.request.Request(_userinfo_endpoint(issuer, timeout))
    # Unredirected: urllib would copy an ordinary header onto a redirect.
    req.add_unredirected_header("Authorization", "Bearer " + token)
    try:
        return _get_json(req, "the userinfo endpoint", timeout)
    except ProviderError as e:
        if e.status not in (401, 403):
            # Not about the token: the endpoint may have moved.
            with _endpoints_lock:
                _endpoints.pop(issuer, None)
        raise


def _userinfo_endpoint(issuer: str, timeout: float) -> str:
    """The userinfo endpoint named by OpenID discovery at ``issuer``,
    remembered for ENDPOINT_TTL seconds (ENDPOINTS_KEPT issuers at most, the
    least recently used forgotten first). Only a discovery that succeeded
    and names ``issuer`` is remembered; a failure raises ProviderError."""
    now = time.monotonic()
    with _endpoints_lock:
        kept = _endpoints.get(issuer)
        if kept and now - kept[1] < ENDPOINT_TTL:
            _endpoints.move_to_end(issuer)
            return kept[0]
    meta = _get_json(urllib.request.Request(issuer + DISCOVERY_PATH), "OpenID discovery", timeout)
    if str(meta.get("issuer", "")).rstrip("/") != issuer:
        raise ProviderError(
            "invalid_response",
            f"the discovery document at {issuer}{DISCOVERY_PATH} is for issuer {meta.get('issuer')!r}, not {issuer!r}",
        )
    endpoint = meta.get("userinfo_endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        raise ProviderError("invalid_response", f"the provider at {issuer} names no userinfo_endpoint")
    with _endpoints_lock:
        _endpoints[issuer] = (endpoint, now)
        _endpoints.move_to_end(issuer)
        while len(_endpoints) > ENDPOINTS_KEPT:
            _endpoints.popitem(last=False)
    return endpoint


def _get_json(req: urllib.request.Request, what: str, timeout: float) -> dict[str, Any]:
    """The JSON object ``req`` answers, or :class:`ProviderError`."""
    url = req.full_url
    req.add_header("Accept", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read(MAX_DOCUMENT + 1)
    except urllib.error.HTTPError as e:
        e.close()
        raise ProviderError("refused", f"{what} at {url} answered HTTP {e.code}", e.code) from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise ProviderError("unreachable", f"cannot reach {what} at {url} ({reason})") from None
    if len(raw) > MAX_DOCUMENT:
        raise ProviderError("invalid_response", f"{what} at {url} answered more than {MAX_DOCUMENT} bytes")
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise ProviderError("invalid_response", f"{what} at {url} answered no JSON object")
    return doc
