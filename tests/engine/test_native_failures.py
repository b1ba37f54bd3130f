"""A native build that cannot be made, fails or is interrupted leaves the active engine as it
was, says so in one line, and leaves no staging folder or compiler process behind.

The failing and the endless builds are real pip builds of small source trees whose in-tree
build backend fails or waits, so nothing is fetched and they take seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autonom.engine import builds

BACKEND = '''
import os, sys, time
def get_requires_for_build_wheel(config_settings=None):
    return []
def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    print("  Running: cmake .. -DGGML_NATIVE=ON", flush=True)
    print("  [ 10%] Building C object ggml.c.o", flush=True)
    MODE
'''


def source_tree(tmp_path: Path, mode: str) -> Path:
    tree = tmp_path / "xllamacpp-src"
    tree.mkdir()
    (tree / "pyproject.toml").write_text(
        '[project]\nname = "xllamacpp"\nversion = "0"\n'
        '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n')
    (tree / "backend.py").write_text(BACKEND.replace("MODE", mode))
    return tree


def autonom(home: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "autonom", *args],
                            env={**os.environ, "AUTONOM_HOME": str(home), **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def home_with_model(home: Path, model_services: object) -> Path:
    builds.record(home, builds.PREBUILT)
    return home


def error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, stderr
    return lines[0]


def test_missing_build_tools_are_named_before_anything_is_fetched(home_with_model: Path,
                                                                   tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    done = autonom(home_with_model, "engine", "build", PATH=str(empty))
    _out, err = done.communicate(timeout=120)
    assert done.returncode == 1, err
    line = error_line(err)
    assert "cmake" in line and "C++ compiler" in line and "prebuilt engine stays active" in line
    assert not builds.engine_dir(home_with_model).joinpath("native.new").exists()
    assert builds.recorded(home_with_model) == builds.PREBUILT


def test_failed_build_keeps_the_active_engine_and_its_log(home_with_model: Path,
                                                          tmp_path: Path) -> None:
    tree = source_tree(tmp_path, 'raise SystemExit("compiler exploded")')
    done = autonom(home_with_model, "engine", "build", "--source", str(tree))
    out, err = done.communicate(timeout=300)
    assert done.returncode == 1, err
    line = error_line(err)
    log = builds.engine_dir(home_with_model) / "build.log"
    assert "failed" in line and "prebuilt engine stays active" in line and str(log) in line
    assert "compiler exploded" in log.read_text()
    assert not (builds.engine_dir(home_with_model) / "native.new").exists()
    assert not builds.native_dir(home_with_model).exists()
    assert builds.recorded(home_with_model) == builds.PREBUILT
    status = autonom(home_with_model, "engine", "status", "--json")
    out, err = status.communicate(timeout=120)
    assert status.returncode == 0, err
    assert '"active": "prebuilt"' in out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_interrupted_build_stops_its_compilers_and_cleans_up(home_with_model: Path,
                                                             tmp_path: Path, sig: int) -> None:
    pid_file = tmp_path / "compiler.pid"
    tree = source_tree(tmp_path, f'open({str(pid_file)!r}, "w").write(str(os.getpid())); '
                                 'time.sleep(600)')
    process = autonom(home_with_model, "engine", "build", "--source", str(tree))
    deadline = time.monotonic() + 240
    while not pid_file.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    assert pid_file.exists(), process.communicate(timeout=10)
    compiler = int(pid_file.read_text())
    process.send_signal(sig)
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 1, err
    assert "interrupted" in error_line(err) and "prebuilt engine stays active" in err
    gone_by = time.monotonic() + 20
    while _alive(compiler) and time.monotonic() < gone_by:
        time.sleep(0.2)
    assert not _alive(compiler), "the build's processes outlived the interrupt"
    assert not (builds.engine_dir(home_with_model) / "native.new").exists()
    assert builds.recorded(home_with_model) == builds.PREBUILT


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(f"/proc/{pid}").exists() \
        else "X"
    return state not in ("Z", "X")


def test_status_without_a_native_build_says_how_to_make_one(home: Path) -> None:
    done = autonom(home, "engine", "status")
    out, err = done.communicate(timeout=120)
    assert done.returncode == 0, err
    assert "active: prebuilt (default)" in out
    assert "autonom engine build" in err


def test_use_native_without_a_build_is_one_line_error(home: Path) -> None:
    done = autonom(home, "engine", "use", "native")
    _out, err = done.communicate(timeout=120)
    assert done.returncode == 1
    assert "no native engine build" in error_line(err)
