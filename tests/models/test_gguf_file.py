import pytest

from autonom.errors import InvalidModelFileError
from autonom.models.gguf_file import read_gguf
from gguf_maker import truncate, write_tiny_gguf


def test_tiny_gguf_facts_are_read(tmp_path):
    info = read_gguf(write_tiny_gguf(tmp_path / "t.gguf", chat_template="{{ messages }}"))
    assert info.architecture == "llama"
    assert info.name == "Tiny Test Model"
    assert info.parameters == 4 * 8 + 8
    assert info.quantization == "F32"
    assert info.context_length == 512
    assert info.chat_template == "{{ messages }}"
    assert info.bos_token == "<s>" and info.eos_token == "</s>"
    assert info.license == "apache-2.0"


def test_default_model_facts(default_model_file):
    info = read_gguf(default_model_file)
    assert info.architecture == "llama"
    assert info.quantization == "Q4_1"
    assert 130e6 < info.parameters < 140e6
    assert info.context_length == 8192
    assert info.has_chat_template
    assert info.license == "apache-2.0"
    assert info.kv_bytes_per_token() == 2 * 30 * 3 * 64 * 2


def test_a_text_file_is_not_gguf(tmp_path):
    path = tmp_path / "notiz.gguf"
    path.write_text("Wartungsvertrag für die Pumpe, Stand: 05/2025\n" * 10, encoding="utf-8")
    with pytest.raises(InvalidModelFileError, match="not a GGUF"):
        read_gguf(path)


def test_an_empty_file_is_not_gguf(tmp_path):
    path = tmp_path / "leer.gguf"
    path.write_bytes(b"")
    with pytest.raises(InvalidModelFileError, match="not a GGUF"):
        read_gguf(path)


@pytest.mark.parametrize("fraction", [0.1, 0.3, 0.6, 0.95])
def test_truncated_gguf_is_refused(tmp_path, fraction):
    full = write_tiny_gguf(tmp_path / "full.gguf")
    cut = truncate(full, tmp_path / "cut.gguf", fraction)
    with pytest.raises(InvalidModelFileError, match="truncated"):
        read_gguf(cut)


def test_truncated_real_model_is_refused(tmp_path, default_model_file):
    cut = tmp_path / "cut.gguf"
    with default_model_file.open("rb") as src:
        cut.write_bytes(src.read(50_000_000))
    with pytest.raises(InvalidModelFileError, match="truncated"):
        read_gguf(cut)


def test_implausible_lengths_are_refused(tmp_path):
    path = tmp_path / "evil.gguf"
    # magic, version 3, 0 tensors, 1 kv, then a key whose length claims 2**60 bytes
    path.write_bytes(b"GGUF" + (3).to_bytes(4, "little") + (0).to_bytes(8, "little")
                     + (1).to_bytes(8, "little") + (2**60).to_bytes(8, "little") + b"x" * 64)
    with pytest.raises(InvalidModelFileError):
        read_gguf(path)


def test_missing_file_and_directory_are_clear_errors(tmp_path):
    with pytest.raises(InvalidModelFileError, match="does not exist"):
        read_gguf(tmp_path / "nirgends.gguf")
    with pytest.raises(InvalidModelFileError, match="directory"):
        read_gguf(tmp_path)
