"""The README's commands are the ones the project really has."""

import re
from pathlib import Path

from autonom.cli import main
from support import DEFAULT_MODEL

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_ci_runs_exactly_the_readme_test_command():
    assert "make test" in README
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = [ln.strip() for ln in ci.splitlines() if ln.strip() and not ln.startswith("#")]
    assert commands[-1] == "make test"


def test_readme_make_targets_exist():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in re.findall(r"^make (\w+)", README, flags=re.M):
        assert re.search(rf"^{target}:", makefile, flags=re.M), target


def test_readme_cli_commands_exist(capsys):
    used = set(re.findall(r"^autonom (\w+)", README, flags=re.M))
    assert {"pull", "list", "show", "run", "ps", "rm"} <= used
    for command in used:
        assert main([command, "--help"]) == 0, command
    capsys.readouterr()


def test_readme_sections_come_in_the_promised_order():
    headings = [h.lower() for h in re.findall(r"^## (.+)$", README, flags=re.M)]
    order = ["two commands", "pointing existing clients", "configuration", "numbers"]
    positions = [next(i for i, h in enumerate(headings) if key in h) for key in order]
    assert positions == sorted(positions)
    assert "benchmarks/RESULTS.md" in README


def test_quickstart_answers_the_first_question(capsys, default_model_file):
    assert main(["pull", str(default_model_file), "--name", DEFAULT_MODEL]) == 0
    assert main(["quickstart"]) == 0
    out, err = capsys.readouterr()
    assert "KP-55" in err  # the question is shown
    assert "5,5 kW" in out and "produkte/kp-55-datenblatt.md" in out  # answered, with citation


def test_readme_eval_set_example_is_a_valid_eval_set(tmp_path):
    from autonom.evals.dataset import load

    block = re.search(r"```yaml\n(name: service-fragen.*?)```", README, flags=re.S)
    assert block, "the README shows an eval set"
    path = tmp_path / "fragen.yaml"
    path.write_text(block.group(1), encoding="utf-8")
    loaded = load(path)
    assert [c.id for c in loaded.cases] == ["motorleistung", "gehalt", "bestellung"]
    assert loaded.cases[2].collection is None and loaded.cases[2].json_schema


def test_readme_eval_and_bench_options_exist(capsys):
    """Every --option on a README line for ``autonom eval run|compare`` or ``autonom bench``
    is one the command accepts."""
    import typer

    from autonom.cli import app

    command = typer.main.get_command(app)
    lines = [m.group(0) for m in re.finditer(r"^autonom (?:eval \w+|bench) .*$", README,
                                              flags=re.M)]
    assert len(lines) >= 5
    for line in lines:
        sub = command
        for word in line.split()[1:]:
            if word.startswith("-") or not hasattr(sub, "commands"):
                break
            sub = sub.commands[word]
        known = {opt for param in sub.params for opt in param.opts}
        used = set(re.findall(r"(?<!\S)(--[a-z-]+)", line))
        assert used <= known, (line, used - known)
    capsys.readouterr()


def test_readme_model_choice_commands_run_and_policy_example_is_valid(capsys):
    import shlex
    import tomllib

    from autonom.config import PolicySettings

    block = re.search(r"### Which model.*?```bash\n(.*?)```", README, flags=re.S)
    assert block, "the README shows the model choice commands"
    lines = [ln.split("#")[0].strip() for ln in block.group(1).splitlines()]
    commands = [shlex.split(ln)[1:] for ln in lines if ln and ".gguf" not in ln]
    assert {c[0] for c in commands} == {"fit", "recommend", "license", "cost"}
    for args in commands:
        assert main(args) == 0, args
    capsys.readouterr()
    policy = re.search(r"```toml\n# autonom.toml\n(\[policy\].*?)```", README, flags=re.S)
    assert policy, "the README shows a [policy] section"
    parsed = PolicySettings(**tomllib.loads(policy.group(1))["policy"])
    assert parsed.on_violation == "refuse" and parsed.region == "DE"


def test_readme_backends_example_is_valid(monkeypatch, tmp_path):
    import tomllib

    from autonom.config import Settings

    block = re.search(r"```toml\n# autonom.toml\n(\[backends\..*?)```", README, flags=re.S)
    assert block, "README has no [backends] example"
    monkeypatch.setenv("GPU_BOX_KEY", "sk-beispiel")
    data = tomllib.loads(block.group(1))
    settings = Settings(home=tmp_path, **data)
    assert settings.aliases["chat-default"][0] == "qwen3:8b@gpu-box"
    assert settings.backends["gpu-box"].api_key.get_secret_value() == "sk-beispiel"


def test_readme_document_commands_name_files_as_shown(capsys, tmp_path, monkeypatch):
    from fpdf import FPDF

    (tmp_path / "handbuch").mkdir()
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.multi_cell(0, 8, "Montage\n\nDie Fundamentschrauben werden mit 45 Nm angezogen.")
    pdf.output(str(tmp_path / "handbuch" / "montage.pdf"))
    (tmp_path / "preise.csv").write_text("Artikel;Preis\nKP-55;2.480,00\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    block = README.split("### Your documents", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    ingest = next(line for line in block.splitlines() if line.startswith("autonom ingest"))
    show = next(line for line in block.splitlines() if line.startswith("autonom docs show"))
    for line in (ingest, show):
        args = line.split("#", 1)[0].split()[1:]
        assert main(args) == 0, line
    assert "45 Nm" in capsys.readouterr().out
