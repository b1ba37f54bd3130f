"""Constants shared by tests."""

DEFAULT_MODEL = "smollm2-135m"
