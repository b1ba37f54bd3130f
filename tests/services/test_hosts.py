"""Host and Origin checks shared by /mcp and the web UI."""

from __future__ import annotations

from autonom.config import ServerSettings
from autonom.services.hosts import refusal

SETTINGS = ServerSettings(allowed_hosts=["autonom.firma.example"],
                          cors_origins=["https://portal.firma.example"])


def test_loopback_and_allowed_hosts_pass_others_do_not():
    for host in ("127.0.0.1:11435", "localhost", "[::1]:8080", "autonom.firma.example"):
        assert refusal({"host": host}, SETTINGS, own_origins=False) is None
    assert "not allowed" in refusal({"host": "autonom.firma.example.evil"}, SETTINGS,
                                    own_origins=False)
    assert refusal({}, SETTINGS, own_origins=False) is not None


def test_the_ui_accepts_its_own_origin_mcp_only_loopback_and_cors_origins():
    own = {"host": "autonom.firma.example", "origin": "https://autonom.firma.example"}
    assert refusal(own, SETTINGS, own_origins=True) is None
    assert refusal(own, SETTINGS, own_origins=False) is not None
    cors = {"host": "autonom.firma.example", "origin": "https://portal.firma.example"}
    assert refusal(cors, SETTINGS, own_origins=False) is None
    evil = {"host": "127.0.0.1", "origin": "http://angreifer.example"}
    assert refusal(evil, SETTINGS, own_origins=True) is not None
