"""The connection to one model server: base URL, key, timeouts, HTTP client, error mapping.

The wire formats (:mod:`autonom.backends.ollama`, :mod:`autonom.backends.openai_compat`)
build requests and read answers; everything about reaching the server lives here. The URL
and key come from settings only; nothing a client sends can change where a request goes or
which credentials go with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from autonom.backends.base import Capabilities
from autonom.backends.pool import PoolSnapshot
from autonom.config import BackendSettings
from autonom.errors import (
    InvalidRequestError,
    ModelNotFoundError,
    UpstreamError,
    UpstreamTimeoutError,
)

_RETRYABLE = {408, 409, 425, 429, 500, 502, 503, 504}

log = logging.getLogger("autonom.backends")


class Upstream:
    """One server behind autonom, reached with one pooled :class:`httpx.AsyncClient` per
    event loop. ``transport`` replaces the network in tests of our own logic."""

    def __init__(self, name: str, settings: BackendSettings,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        assert settings.url is not None
        self.name = name
        self.settings = settings
        self.base_url = settings.url.rstrip("/")
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:  # never shows the key
        return f"Upstream({self.name!r}, {self.base_url!r})"

    def client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            s = self.settings
            headers = {"User-Agent": "autonom"}
            if s.api_key is not None and s.api_key.get_secret_value():
                headers["Authorization"] = f"Bearer {s.api_key.get_secret_value()}"
            timeout = httpx.Timeout(connect=s.connect_timeout_s, read=s.first_token_timeout_s,
                                    write=s.connect_timeout_s, pool=s.timeout_s)
            limits = httpx.Limits(max_connections=s.max_concurrent,
                                  max_keepalive_connections=s.max_concurrent)
            self._client = httpx.AsyncClient(base_url=self.base_url, headers=headers,
                                             timeout=timeout, limits=limits, trust_env=False,
                                             follow_redirects=False, transport=self._transport)
            self._loop = loop
        return self._client

    # -- requests --------------------------------------------------------------------------

    async def get_json(self, path: str) -> Any:
        """A quick question to the server (its model list, its version): bounded by the
        connect timeout, not by the time a model may take to answer."""
        async with self._guard():
            response = await self.client().get(path, timeout=self.settings.connect_timeout_s)
            return self._json(self._checked(response))

    async def post_json(self, path: str, body: dict[str, Any]) -> Any:
        async with self._guard(), asyncio.timeout(self.settings.timeout_s):
            response = await self.client().post(path, json=body)
            return self._json(self._checked(response))

    @asynccontextmanager
    async def stream_lines(self, path: str, body: dict[str, Any]) -> AsyncIterator[
            AsyncIterator[str]]:
        """The answer's lines as they arrive; errors before and during the stream are mapped
        like those of :meth:`post_json`. The caller bounds the whole answer's duration."""
        async with self._guard(), self.client().stream("POST", path, json=body) as response:
            if response.status_code != 200:
                await response.aread()
                self._checked(response)
            yield self._lines(response)

    async def _lines(self, response: httpx.Response) -> AsyncIterator[str]:
        """Non-empty lines; each wait is bounded by the read timeout, the whole answer by
        ``timeout_s``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.timeout_s
        async with self._guard():
            async for line in response.aiter_lines():
                if loop.time() > deadline:
                    raise TimeoutError("the answer took longer than timeout_s")
                if line.strip():
                    yield line

    # -- errors ----------------------------------------------------------------------------

    @asynccontextmanager
    async def _guard(self) -> AsyncIterator[None]:
        """httpx and timeout exceptions as :class:`UpstreamError` naming this server."""
        try:
            yield
        except (TimeoutError, httpx.TimeoutException) as exc:
            log.warning("%s: no answer in time", self.name, extra={"fields": {
                "backend": self.name}})
            raise UpstreamTimeoutError(f"{self.name}: no answer in time "
                                       f"({type(exc).__name__})", self.name) from exc
        except httpx.TransportError as exc:
            log.warning("%s: connection failed (%s)", self.name, type(exc).__name__,
                        extra={"fields": {"backend": self.name}})
            raise UpstreamError(f"{self.name}: connection failed ({type(exc).__name__})",
                                self.name) from exc
        except httpx.HTTPError as exc:
            raise UpstreamError(f"{self.name}: {type(exc).__name__}", self.name) from exc

    def _checked(self, response: httpx.Response) -> httpx.Response:
        status = response.status_code
        if status == 200:
            return response
        message = f"{self.name}: {status} {error_message(response)}"
        log.log(logging.WARNING if status >= 500 else logging.INFO, "%s", message,
                extra={"fields": {"backend": self.name, "status": status}})
        if status == 404:
            raise ModelNotFoundError(message)
        if status in (400, 413, 422):
            raise InvalidRequestError(message)
        raise UpstreamError(message, self.name, retryable=status in _RETRYABLE)

    def _json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise UpstreamError(f"{self.name}: answer is not JSON", self.name) from exc

    def parse(self, line: str) -> dict[str, Any]:
        """One line of a stream as JSON; a server's error event becomes an exception."""
        try:
            data = json.loads(line)
        except ValueError as exc:
            raise UpstreamError(f"{self.name}: broken stream line {line[:80]!r}",
                                self.name) from exc
        if not isinstance(data, dict):
            raise UpstreamError(f"{self.name}: unexpected stream line", self.name)
        if "error" in data:
            raise UpstreamError(f"{self.name}: {_message_of(data)}", self.name,
                                retryable=False)
        return data

    def field(self, data: Any, *keys: str | int) -> Any:
        """``data[k1][k2]…``, or a clear error when the server's answer lacks it."""
        try:
            for key in keys:
                data = data[key]
        except (KeyError, IndexError, TypeError) as exc:
            path = ".".join(str(k) for k in keys)
            raise UpstreamError(f"{self.name}: unexpected answer, no {path}", self.name,
                                retryable=False) from exc
        return data

    def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        # without a running loop its connections close with the loop they belonged to
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().create_task(client.aclose())


def error_message(response: httpx.Response) -> str:
    """The message of an error answer in OpenAI's or Ollama's shape, or the start of it."""
    try:
        return _message_of(response.json())
    except ValueError:
        return response.text[:200].strip() or response.reason_phrase


def _message_of(data: Any) -> str:
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            return str(error.get("message") or error)[:500]
        if error is not None:
            return str(error)[:500]
        if "detail" in data:
            return str(data["detail"])[:500]
    return str(data)[:200]


class RemoteBackend:
    """What every backend on another server shares: its name, its connection, and nothing
    loaded here (the server manages its own models)."""

    capabilities: Capabilities

    def __init__(self, name: str, settings: BackendSettings,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.name = name
        self.upstream = Upstream(name, settings, transport)

    def loaded(self) -> list[PoolSnapshot]:
        return []

    def unload(self, model: str) -> bool:
        return False

    def close(self) -> None:
        self.upstream.close()
