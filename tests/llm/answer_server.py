"""A tiny OpenAI-compatible chat server on 127.0.0.1 that answers as it is told: a fixed
content, an HTTP error, a body that is not a chat completion, or a late answer. A real server
(the endpoint backend talks HTTP to it through the ``openai`` client), for the answers a good
model never gives."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Behaviour:
    content: str = '{"picks": [1]}'
    """The answer's message content."""
    status: int = 200
    raw_body: str | None = None
    """Sent as it is instead of a chat completion."""
    delay_s: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    """Every request body received (JSON)."""


def _handler(behaviour: Behaviour) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def _send(self, status: int, body: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            # the client may have given up (a timeout)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(data)

        def do_GET(self) -> None:
            models = {"object": "list", "data": [{"id": "fixed", "object": "model"}]}
            self._send(200, json.dumps(models))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            behaviour.requests.append(json.loads(self.rfile.read(length) or b"{}"))
            if behaviour.delay_s:
                time.sleep(behaviour.delay_s)
            if behaviour.raw_body is not None:
                self._send(behaviour.status, behaviour.raw_body)
                return
            if behaviour.status != 200:
                self._send(behaviour.status, json.dumps({"error": {"message": "it broke"}}))
                return
            self._send(
                200,
                json.dumps(
                    {
                        "id": "x",
                        "object": "chat.completion",
                        "created": 0,
                        "model": "fixed",
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": "stop",
                                "message": {"role": "assistant", "content": behaviour.content},
                            }
                        ],
                    }
                ),
            )

    return Handler


@contextmanager
def answer_server(behaviour: Behaviour) -> Iterator[str]:
    """Serve ``behaviour`` on a free port; yields the base URL (``http://127.0.0.1:P/v1``)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(behaviour))
    server.daemon_threads = True
    server.block_on_close = False
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
