"""A bounded load generator for OpenAI-compatible and Ollama chat endpoints.

For each concurrency level a fixed number of streamed chat requests is sent, never more than
``concurrency`` at a time, each with its own synthetic German prompt (no two prompts share a
prefix, so a prompt cache cannot flatter the numbers). The metrics follow vLLM's serving
benchmark:

* TTFT — from sending the request to the first streamed chunk with text;
* TPOT — per request, (end-to-end latency − TTFT) / (output tokens − 1), for requests with
  more than one output token;
* ITL — every gap between two successive text chunks, pooled over all requests;
* E2EL — from sending the request to its last byte;
* request throughput = completed requests / duration; output throughput = output tokens /
  duration; total token throughput = (prompt + output tokens) / duration, where duration runs
  from the first request sent to the last answer received at that level.

Output tokens are the server's own count (``usage`` / ``eval_count``); where a server does not
report it, text chunks are counted instead and the result says so.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from autonom.errors import InvalidRequestError
from autonom.evals.metrics import percentile

Api = Literal["openai", "ollama"]
MAX_REQUESTS = 10_000
MAX_CONCURRENCY = 256
_WORD_TEXT = ("Pumpe Motor Dichtung Gehäuse Laufrad Welle Lager Flansch Ventil Filter Sensor "
         "Steuerung Kupplung Rohr Wartung Prüfung Lieferung Montage Garantie Kunde Auftrag "
         "Rechnung Angebot Reklamation Schulung Sicherheit Betrieb Störung Ersatzteil Größe "
         "Förderhöhe Maß Druck Temperatur Leistung Drehzahl Schmutzwasser Brunnen")
WORDS = _WORD_TEXT.split()


@dataclass(frozen=True)
class BenchConfig:
    url: str
    model: str
    api: Api = "openai"
    prompt_tokens: int = 128
    max_tokens: int = 64
    timeout_s: float = 120.0
    api_key: str | None = None
    words_per_token: float = 0.5
    """Prompt words per prompt token; :func:`calibrate` measures it on the target."""
    salt: str = ""
    """Makes this run's prompts differ from every earlier run's (no prompt-cache hits)."""


@dataclass
class RequestResult:
    ok: bool
    error: str | None = None
    prompt_tokens: int = 0
    output_tokens: int = 0
    counted_chunks: bool = False
    ttft_s: float | None = None
    e2el_s: float = 0.0
    itl_s: list[float] = field(default_factory=list)


def check_target(url: str, allow_remote: bool) -> str:
    """The base URL (``/v1`` stripped); refuses hosts that are not this machine unless
    ``allow_remote``: a load test against someone else's server must be meant."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequestError(f"invalid target {url!r}: use http://HOST:PORT")
    if not allow_remote and not _is_loopback(parts.hostname):
        raise InvalidRequestError(
            f"refusing to load-test {parts.hostname}, which is not this machine; "
            "pass --allow-remote if you mean it")
    base = url.strip().rstrip("/")
    return base[:-3] if base.endswith("/v1") else base


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError as exc:
        raise InvalidRequestError(f"cannot resolve {host!r}: {exc}") from exc
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def prompt(config: BenchConfig, index: int) -> str:
    """A German text of about ``config.prompt_tokens`` tokens, unique per request and run
    from its first words on."""
    rng = random.Random(f"{config.salt}-{index}")
    count = max(1, round(config.prompt_tokens * config.words_per_token))
    words = [rng.choice(WORDS) for _ in range(count)]
    return f"Anfrage {config.salt}-{index}: " + " ".join(words)


async def calibrate(config: BenchConfig, probe_words: int = 60) -> BenchConfig:
    """Measures the target's tokens per prompt word with one request (also a warm-up); the
    config is returned unchanged when the target does not report prompt tokens."""
    probe = replace(config, prompt_tokens=probe_words, words_per_token=1.0, max_tokens=1)
    async with _client(config, 1) as client:
        result = await one(client, probe, prompt(probe, -1))
    if not result.ok:
        raise InvalidRequestError(f"the target did not answer a first request "
                                  f"({result.error}); check the URL, --api, --model and the key")
    if result.prompt_tokens <= 0:
        return config
    return replace(config, words_per_token=probe_words / result.prompt_tokens)


def _body(config: BenchConfig, text: str) -> tuple[str, dict[str, Any]]:
    messages = [{"role": "user", "content": text}]
    if config.api == "ollama":
        return "/api/chat", {"model": config.model, "messages": messages, "stream": True,
                             "options": {"num_predict": config.max_tokens, "temperature": 0,
                                         "seed": 0}}
    return "/v1/chat/completions", {
        "model": config.model, "messages": messages, "stream": True,
        "max_tokens": config.max_tokens, "temperature": 0, "seed": 0,
        "stream_options": {"include_usage": True}}


def _client(config: BenchConfig, connections: int) -> httpx.AsyncClient:
    """A client for the target: its key, as many connections as requests in flight, and no
    proxy from the environment (the target is addressed directly)."""
    headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(headers=headers, limits=limits, trust_env=False)


async def one(client: httpx.AsyncClient, config: BenchConfig, text: str) -> RequestResult:
    path, body = _body(config, text)
    result = RequestResult(ok=False)
    started = time.perf_counter()
    last: float | None = None
    chunks = 0
    try:
        async with client.stream("POST", config.url + path, json=body,
                                 timeout=config.timeout_s) as response:
            if response.status_code != 200:
                await response.aread()
                result.error = f"HTTP {response.status_code}"
                return result
            async for line in response.aiter_lines():
                event = _event(line, config.api)
                if event is None:
                    continue
                delta, usage = event
                now = time.perf_counter()
                if delta:
                    chunks += 1
                    if last is None:
                        result.ttft_s = now - started
                    else:
                        result.itl_s.append(now - last)
                    last = now
                if usage:
                    result.prompt_tokens, result.output_tokens = usage
        result.ok = True
    except httpx.TimeoutException:
        result.error = "timeout"
    except httpx.HTTPError as exc:
        result.error = type(exc).__name__
    finally:
        result.e2el_s = time.perf_counter() - started
    if result.ok and result.output_tokens == 0 and chunks:
        result.output_tokens, result.counted_chunks = chunks, True
    return result


def _event(line: str, api: Api) -> tuple[str, tuple[int, int] | None] | None:
    """(text delta, (prompt tokens, output tokens) or None) of one stream line."""
    if api == "openai":
        if not line.startswith("data:"):
            return None
        line = line[5:].strip()
        if line == "[DONE]":
            return None
    if not line.strip():
        return None
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if api == "ollama":
        usage = ((data.get("prompt_eval_count", 0), data.get("eval_count", 0))
                 if data.get("done") else None)
        return (data.get("message") or {}).get("content") or "", usage
    choices = data.get("choices") or []
    delta = (choices[0].get("delta") or {}).get("content") or "" if choices else ""
    usage = data.get("usage")
    return delta, ((usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0))
                   if usage else None)


async def level(config: BenchConfig, concurrency: int, requests: int,
                advance: Callable[[], None] | None = None, offset: int = 0,
                deadline_s: float = 3600.0) -> tuple[dict[str, Any], list[RequestResult]]:
    """``requests`` requests with at most ``concurrency`` in flight; the summary and every
    request's result. No new request starts after ``deadline_s``; those left out are
    reported as ``not_sent``."""
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise InvalidRequestError(f"concurrency must be 1 to {MAX_CONCURRENCY}")
    if not 1 <= requests <= MAX_REQUESTS:
        raise InvalidRequestError(f"--requests must be 1 to {MAX_REQUESTS}")
    indices = iter(range(offset, offset + requests))
    results: list[RequestResult] = []
    async with _client(config, concurrency) as client:
        async def worker() -> None:
            for index in indices:
                if time.perf_counter() > end:
                    return
                results.append(await one(client, config, prompt(config, index)))
                if advance is not None:
                    advance()

        started = time.perf_counter()
        end = started + deadline_s
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        duration = time.perf_counter() - started
    summary = summarize(results, duration, concurrency)
    summary["not_sent"] = requests - len(results)
    return summary, results


def summarize(results: list[RequestResult], duration: float, concurrency: int
              ) -> dict[str, Any]:
    done = [r for r in results if r.ok]
    out_tokens = sum(r.output_tokens for r in done)
    in_tokens = sum(r.prompt_tokens for r in done)
    ttft = [r.ttft_s * 1000 for r in done if r.ttft_s is not None]
    tpot = [(r.e2el_s - r.ttft_s) * 1000 / (r.output_tokens - 1) for r in done
            if r.ttft_s is not None and r.output_tokens > 1]
    itl = [gap * 1000 for r in done for gap in r.itl_s]
    e2el = [r.e2el_s * 1000 for r in done]
    errors: dict[str, int] = {}
    for r in results:
        if not r.ok:
            errors[r.error or "error"] = errors.get(r.error or "error", 0) + 1
    summary: dict[str, Any] = {
        "concurrency": concurrency, "requests": len(results), "completed": len(done),
        "failed": len(results) - len(done), "errors": errors, "duration_s": duration,
        "prompt_tokens": in_tokens, "output_tokens": out_tokens,
        "request_throughput": len(done) / duration if duration else None,
        "output_throughput": out_tokens / duration if duration else None,
        "total_token_throughput": (in_tokens + out_tokens) / duration if duration else None,
        "prompt_tokens_mean": in_tokens / len(done) if done else None,
        "output_tokens_counted_as_chunks": any(r.counted_chunks for r in done),
    }
    for name, values in (("ttft", ttft), ("tpot", tpot), ("itl", itl), ("e2el", e2el)):
        summary[f"{name}_mean_ms"] = sum(values) / len(values) if values else None
        for p in (50, 95, 99):
            summary[f"{name}_p{p}_ms"] = percentile(values, p)
    return summary
