"""Small stand-ins for a company's own systems, used by the docs and the tests."""
