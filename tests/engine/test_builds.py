"""Which engine build a process loads: the setting, the recorded choice, and every reason a
native build is passed over (missing, another xllamacpp version, a CPU it was not built for)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from autonom.config import Settings, load_settings
from autonom.engine import builds
from autonom.errors import ConfigError


def fake_native(folder: Path, **facts: object) -> Path:
    """A native build folder as ``autonom engine build`` leaves it (without a compiled
    engine: these tests are about the choice, not about loading)."""
    (folder / "site").mkdir(parents=True)
    builds.write_build(folder, {"version": builds.installed_version(),
                                "cpu_flags": sorted(builds.cpu_flags()), **facts})
    return folder


def test_prebuilt_is_the_default(settings: Settings) -> None:
    choice = builds.choose(settings)
    assert choice.build.kind == builds.PREBUILT and choice.build.site is None
    assert choice.reason == "default" and choice.warning is None


def test_recorded_choice_then_setting_take_precedence(home: Path) -> None:
    fake_native(builds.native_dir(home))
    builds.use(load_settings(home=home), "native")
    chosen = builds.choose(load_settings(home=home))
    assert chosen.build.kind == builds.NATIVE
    assert chosen.build.site == builds.native_dir(home) / "site"
    assert chosen.reason == "chosen by autonom engine build or use"
    overridden = builds.choose(load_settings(home=home, engine={"build": "prebuilt"}))
    assert overridden.build.kind == builds.PREBUILT
    assert overridden.reason == "engine.build setting"


def test_environment_names_a_build_folder(home: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    folder = fake_native(tmp_path / "elsewhere")
    monkeypatch.setenv("AUTONOM_ENGINE__BUILD", str(folder))
    choice = builds.choose(load_settings(home=home))
    assert choice.build.site == folder / "site" and choice.warning is None


def test_missing_native_build_falls_back_with_a_reason(home: Path) -> None:
    choice = builds.choose(load_settings(home=home, engine={"build": "native"}))
    assert choice.build.kind == builds.PREBUILT
    assert choice.warning is not None and "autonom engine build" in choice.warning


def test_build_of_another_version_is_not_loaded(home: Path) -> None:
    fake_native(builds.native_dir(home), version="2020.1.1")
    choice = builds.choose(load_settings(home=home, engine={"build": "native"}))
    assert choice.build.kind == builds.PREBUILT
    assert choice.warning is not None and "2020.1.1" in choice.warning


def test_build_for_a_cpu_with_more_extensions_is_not_loaded(home: Path) -> None:
    fake_native(builds.native_dir(home),
                cpu_flags=[*sorted(builds.cpu_flags()), "avx10_9_imaginary"])
    choice = builds.choose(load_settings(home=home, engine={"build": "native"}))
    assert choice.build.kind == builds.PREBUILT
    assert choice.warning is not None and "avx10_9_imaginary" in choice.warning


def test_use_refuses_a_native_build_that_cannot_run(home: Path) -> None:
    settings = load_settings(home=home)
    with pytest.raises(ConfigError, match="no native engine build"):
        builds.use(settings, "native")
    fake_native(builds.native_dir(home), version="2020.1.1")
    with pytest.raises(ConfigError, match=r"2020\.1\.1"):
        builds.use(settings, "native")
    with pytest.raises(ConfigError, match="unknown engine build"):
        builds.use(settings, "fastest")
    assert builds.recorded(home) is None
    assert builds.use(settings, "prebuilt").build.kind == builds.PREBUILT
    assert builds.recorded(home) == builds.PREBUILT


def test_installed_version_ignores_native_builds(home: Path) -> None:
    assert builds.installed_version() not in ("", "unknown")


def test_activate_puts_the_build_first_on_the_import_path(home: Path) -> None:
    """In a fresh process (this one has loaded the engine already): a module named
    xllamacpp in the build folder is the one imported."""
    folder = fake_native(builds.native_dir(home))
    (folder / "site" / "xllamacpp").mkdir()
    (folder / "site" / "xllamacpp" / "__init__.py").write_text("MARK = 'native'\n")
    code = ("from autonom.config import load_settings; from autonom.engine import builds; "
            "c = builds.activate(builds.choose(load_settings())); import xllamacpp; "
            "print(c.build.kind, xllamacpp.MARK)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"AUTONOM_HOME": str(home), "AUTONOM_ENGINE__BUILD": "native",
                               "PATH": "/usr/bin:/bin"}, timeout=60, check=True)
    assert done.stdout.split() == ["native", "native"]


def test_activate_after_the_engine_is_loaded_reports_what_is_loaded(home: Path) -> None:
    import xllamacpp  # noqa: F401 - the prebuilt engine, loaded in this process

    folder = fake_native(builds.native_dir(home))
    choice = builds.activate(builds.choose(load_settings(home=home, engine={"build": "native"})))
    assert choice.build.kind == builds.PREBUILT
    assert choice.warning is not None and "restart" in choice.warning
    assert str(folder / "site") not in sys.path


def test_a_build_slower_than_the_prebuilt_engine_is_not_switched_to() -> None:
    from autonom.engine.native import slower

    def facts(native: tuple[float, float], prebuilt: tuple[float, float]) -> dict:
        def speed(short: float, long: float) -> dict:
            return {"speed": {"short": {"decode_per_second": short},
                              "long": {"decode_per_second": long}}}
        return {"selftest": speed(*native), "prebuilt": speed(*prebuilt)}

    assert slower(facts((130, 78), (120, 45))) is None
    assert slower(facts((118, 45), (120, 46))) is None  # within the noise
    why = slower(facts((64, 16), (76, 35)))
    assert why is not None and "short prompt (64 vs 76 tokens/s)" in why
    assert slower({"selftest": {}, "prebuilt": {}}) is None  # not measured: no verdict
