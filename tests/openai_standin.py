"""A small OpenAI-compatible model server on 127.0.0.1 for routing tests: it answers
``von NAME`` after a short delay, lists its models, and can be stopped mid-run (its
port then refuses connections, as a crashed server's would)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class StandIn:
    def __init__(self, name: str, delay_s: float = 0.2, models: tuple[str, ...] = ("m",)):
        self.name = name
        self.delay_s = delay_s
        self.models = models
        self.answered = 0
        self.dead = False
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.endswith("/models"):
                    self._send(200, {"object": "list", "data": [
                        {"id": m, "object": "model"} for m in owner.models]})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = json.loads(self.rfile.read(length) or b"{}")
                time.sleep(owner.delay_s)
                if owner.dead:  # crashed while working: the connection just closes
                    self.close_connection = True
                    return
                with owner._lock:
                    owner.answered += 1
                self._send(200, {
                    "id": "chatcmpl-standin", "object": "chat.completion",
                    "created": int(time.time()), "model": request.get("model", "m"),
                    "choices": [{"index": 0, "finish_reason": "stop", "message": {
                        "role": "assistant", "content": f"von {owner.name}"}}],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> StandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop answering and close the port (requests in flight are cut off)."""
        self.dead = True
        self.server.shutdown()
        self.server.server_close()
