"""Document names: relative to the common folder of what was given, never two files in one."""

from __future__ import annotations

from pathlib import Path


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_same_named_files_in_two_folders_stay_two_documents(kb, tmp_path):
    write(tmp_path / "a", "info.md", "# Info A\n\nDie Hotline ist montags besetzt.\n")
    write(tmp_path / "b", "info.md", "# Info B\n\nDie Hotline ist freitags besetzt.\n")
    report = kb.ingest([tmp_path / "a", tmp_path / "b"], "c")
    assert sorted(report.added) == ["a/info.md", "b/info.md"]
    assert "freitags" in kb.store.document("c", "b/info.md").text
    assert "montags" in kb.store.document("c", "a/info.md").text


def test_a_folder_and_a_file_are_named_as_the_readme_shows(kb, tmp_path):
    write(tmp_path / "handbuch", "montage.md", "# Montage\n\nSchrauben mit 45 Nm anziehen.\n")
    write(tmp_path, "preise.csv", "Artikel;Preis\nKP-55;2.480,00\n")
    report = kb.ingest([tmp_path / "handbuch", tmp_path / "preise.csv"], "c")
    assert sorted(report.added) == ["handbuch/montage.md", "preise.csv"]
    assert "45 Nm" in kb.store.document("c", "handbuch/montage.md").text


def test_reingesting_the_same_folder_keeps_the_names(kb, tmp_path):
    write(tmp_path / "docs", "x/y.md", "# Y\n\nText.\n")
    assert kb.ingest([tmp_path / "docs"], "c").added == ["x/y.md"]
    again = kb.ingest([tmp_path / "docs"], "c")
    assert again.unchanged == ["x/y.md"] and again.added == []


def test_another_file_under_a_taken_name_is_refused_not_overwritten(kb, tmp_path):
    write(tmp_path / "a", "info.md", "# A\n\nDer Preis ist 10 Euro.\n")
    write(tmp_path / "b", "info.md", "# B\n\nDer Preis ist 99 Euro.\n")
    kb.ingest([tmp_path / "a"], "c")
    report = kb.ingest([tmp_path / "b"], "c")
    assert report.added == [] and report.skipped and "one call" in report.skipped[0][1]
    assert "10 Euro" in kb.store.document("c", "info.md").text


def test_a_stored_file_keeps_its_name_when_ingested_with_other_folders(kb, tmp_path):
    """Collections built before names came from the common folder keep their names."""
    write(tmp_path / "a", "info.md", "# A\n\nDer Preis ist 10 Euro.\n")
    write(tmp_path / "b", "info.md", "# B\n\nDer Preis ist 99 Euro.\n")
    kb.ingest([tmp_path / "a"], "c")  # stored as info.md, relative to a/
    report = kb.ingest([tmp_path / "a", tmp_path / "b"], "c")
    assert report.unchanged == ["info.md"] and report.added == ["b/info.md"]
    assert sorted(d.source for d in kb.store.documents("c")) == ["b/info.md", "info.md"]
    assert "99 Euro" in kb.store.document("c", "b/info.md").text


def test_prune_removes_only_missing_files_inside_the_given_folders(kb, tmp_path):
    write(tmp_path / "a", "eins.md", "# Eins\n\nText eins.\n")
    write(tmp_path / "a", "zwei.md", "# Zwei\n\nText zwei.\n")
    write(tmp_path / "b", "drei.md", "# Drei\n\nText drei.\n")
    kb.ingest([tmp_path / "a", tmp_path / "b"], "c")
    (tmp_path / "a" / "zwei.md").unlink()
    report = kb.ingest([tmp_path / "a"], "c", prune=True)
    assert report.removed == ["a/zwei.md"]
    assert "b/drei.md" in [d.source for d in kb.store.documents("c")]
