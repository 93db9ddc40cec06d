"""The errors the package raises."""

from __future__ import annotations


class TokenHookError(Exception):
    """A call to tokenhook failed, or the request cannot be used with it.

    Attributes:
        error: a short code: an OAuth error code from tokenhook
            (``invalid_grant``, ``invalid_client`` …) or one of this package's
            (``no_request``, ``not_behind_tokenhook``, ``unreachable``,
            ``configuration``, ``invalid_assertion``).
        description: what went wrong and what to do about it.
        status: the HTTP status tokenhook answered with (0 when none).
    """

    def __init__(self, error: str, description: str = "", status: int = 0) -> None:
        super().__init__(f"{error}: {description}" if description else error)
        self.error = error
        self.description = description
        self.status = status


class ConnectionRequired(TokenHookError):
    """The viewer has not linked this connection yet.

    Send the viewer to :attr:`connect_url` (a link, or ``TokenHook.connect``
    in the page); after they linked it, the same call succeeds.

    Attributes:
        connection: the connection's name.
        connect_url: where the viewer links it.
    """

    def __init__(self, connection: str, connect_url: str, description: str = "", status: int = 400) -> None:
        super().__init__(
            "invalid_target",
            description or f"the viewer has not connected {connection}; send them to {connect_url}",
            status,
        )
        self.connection = connection
        self.connect_url = connect_url
