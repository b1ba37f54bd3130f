"""A stand-in for the Hugging Face hub on 127.0.0.1: serves files under /{repo}/resolve/{rev}/."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _handler(files: dict[str, bytes], log: list[str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _find(self) -> bytes | None:
            # /{owner}/{repo}/resolve/{revision}/{path}
            parts = self.path.split("?", 1)[0].lstrip("/").split("/")
            if len(parts) < 5 or parts[2] != "resolve":
                return None
            return files.get(f"{parts[0]}/{parts[1]}/{'/'.join(parts[4:])}")

        def _headers(self, body: bytes, status: int = 200, start: int = 0) -> None:
            self.send_response(status)
            etag = hashlib.sha256(body).hexdigest()
            self.send_header("ETag", f'"{etag}"')
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("Content-Length", str(len(body) - start))
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()

        def do_HEAD(self) -> None:
            log.append(f"HEAD {self.path}")
            body = self._find()
            if body is None:
                self.send_error(404, "Entry not found")
                return
            self._headers(body)

        def do_GET(self) -> None:
            log.append(f"GET {self.path}")
            body = self._find()
            if body is None:
                self.send_error(404, "Entry not found")
                return
            start = 0
            rng = self.headers.get("Range")
            if rng and rng.startswith("bytes="):
                start = int(rng[6:].split("-")[0] or 0)
            self._headers(body, 206 if start else 200, start)
            self.wfile.write(body[start:])

    return Handler


@contextmanager
def hf_standin(files: dict[str, bytes]) -> Iterator[tuple[str, list[str]]]:
    """Serve ``{"owner/repo/file": bytes}``; yields (endpoint URL, request log)."""
    log: list[str] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(files, log))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", log
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
