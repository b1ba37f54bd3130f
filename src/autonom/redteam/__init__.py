"""An offline attack suite against an OpenAI-compatible endpoint (``autonom redteam``)."""
