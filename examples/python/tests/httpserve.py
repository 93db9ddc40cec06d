"""A loopback HTTP server for the tests: GET answers come from a function."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

# answer(path, request headers) -> (status, answer headers, body)
Answer = Callable[[str, dict[str, str]], "tuple[int, dict[str, str], bytes]"]


def serve(answer: Answer) -> tuple[str, Callable[[], None]]:
    """Starts a server on a free loopback port; returns its URL and a
    function that stops it."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            status, headers, body = answer(self.path, {k.lower(): v for k, v in self.headers.items()})
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (a timeout test)

        def log_message(self, *args: Any) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{srv.server_address[1]}", srv.shutdown
