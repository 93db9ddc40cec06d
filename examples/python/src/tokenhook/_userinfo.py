"""Asking the OpenID provider's userinfo endpoint with the viewer's token."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from ._errors import TokenHookError

DISCOVERY_PATH = "/.well-known/openid-configuration"
MAX_DOCUMENT = 1 << 20  # bytes read from the provider at most


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
    meta = _get_json(urllib.request.Request(issuer + DISCOVERY_PATH), "OpenID discovery", timeout)
    if str(meta.get("issuer", "")).rstrip("/") != issuer:
        raise ProviderError(
            "invalid_response",
            f"the discovery document at {issuer}{DISCOVERY_PATH} is for issuer {meta.get('issuer')!r}, not {issuer!r}",
        )
    endpoint = meta.get("userinfo_endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        raise ProviderError("invalid_response", f"the provider at {issuer} names no userinfo_endpoint")
    req = urllib.request.Request(endpoint)
    # Unredirected: urllib would copy an ordinary header onto a redirect.
    req.add_unredirected_header("Authorization", "Bearer " + token)
    return _get_json(req, "the userinfo endpoint", timeout)


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
