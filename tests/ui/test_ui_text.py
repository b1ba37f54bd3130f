"""The UI's words: both languages say the same things, and no word hides a dict method
(a template's ``w.keys`` would print the method, not the word)."""

from __future__ import annotations

from autonom.ui.text import LANGUAGES, WORDS, language


def test_both_languages_have_the_same_words_and_none_shadows_a_dict_method():
    assert set(WORDS["de"]) == set(WORDS["en"])
    assert [word for word in WORDS["de"] if hasattr({}, word)] == []


def test_the_language_is_the_cookies_then_the_browsers_then_german():
    assert language("en", "de-DE") == "en"
    assert language(None, "fr-FR,en;q=0.8") == "en"
    assert language("xx", None) == "de"
    assert set(LANGUAGES) == set(WORDS)
