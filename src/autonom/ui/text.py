"""The web UI's words in German and English, chosen by a cookie or the browser's language."""

from __future__ import annotations

LANGUAGES = ("de", "en")

WORDS: dict[str, dict[str, str]] = {
    "de": {
        "title": "autonom",
        "sign_in": "Anmelden",
        "sign_out": "Abmelden",
        "api_key": "API-Schlüssel",
        "key_hint": "Den Schlüssel erstellt eine Administratorin mit „autonom keys create“.",
        "bad_key": "Dieser Schlüssel ist ungültig oder widerrufen.",
        "expired": "Die Anmeldung ist abgelaufen. Bitte erneut anmelden.",
        "chat": "Chat",
        "model": "Modell oder Dokumente",
        "question": "Ihre Frage",
        "send": "Senden",
        "stop": "Stopp",
        "regenerate": "Neu erzeugen",
        "copy_text": "Kopieren",
        "new_chat": "Neues Gespräch",
        "sources": "Quellen",
        "abstained": "Nicht in den Dokumenten",
        "older_version": "Eine ältere Fassung sagt etwas anderes.",
        "document": "Dokument",
        "back": "Zurück zum Chat",
        "quote_missing": "Das Zitat steht nicht (mehr) in diesem Dokument.",
        "no_models": "Diesem Schlüssel steht kein Modell und keine Sammlung zur Verfügung.",
        "no_chat_scope": "Dieser Schlüssel darf nicht chatten (ihm fehlt der Bereich „chat“).",
        "error": "Fehler",
        "language": "English",
        "thinking": "…",
    },
    "en": {
        "title": "autonom",
        "sign_in": "Sign in",
        "sign_out": "Sign out",
        "api_key": "API key",
        "key_hint": "An administrator creates keys with 'autonom keys create'.",
        "bad_key": "This key is invalid or revoked.",
        "expired": "Your session has expired. Please sign in again.",
        "chat": "Chat",
        "model": "Model or documents",
        "question": "Your question",
        "send": "Send",
        "stop": "Stop",
        "regenerate": "Regenerate",
        "copy_text": "Copy",
        "new_chat": "New conversation",
        "sources": "Sources",
        "abstained": "Not in the documents",
        "older_version": "An older version says something different.",
        "document": "Document",
        "back": "Back to the chat",
        "quote_missing": "The quote is not (or no longer) in this document.",
        "no_models": "No model and no collection is available to this key.",
        "no_chat_scope": "This key may not chat (it lacks the 'chat' scope).",
        "error": "Error",
        "language": "Deutsch",
        "thinking": "…",
    },
}


def language(cookie: str | None, accept_language: str | None) -> str:
    """The cookie's choice, else the first of the browser's languages we have, else German."""
    if cookie in LANGUAGES:
        return cookie
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return "de"
