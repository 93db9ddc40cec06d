"""A loopback HTTP server for the tests: GET answers come from a function."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

# answer(path, headers) -> (status, content type, body)
Answer = Callable[[str, dict[str, str]], "tuple[int, str, bytes]"]


def serve(answer: Answer) -> tuple[str, Callable[[], None]]:
    """Starts a server on a free loopback port; returns its URL and a
    function that stops it."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            status, ctype, body = answer(self.path, {k.lower(): v for k, v in self.headers.items()})
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{srv.server_address[1]}", srv.shutdown
