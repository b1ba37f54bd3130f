"""Evaluation pages of the web UI: runs made by 'autonom eval run', their sandboxed report,
and the comparison of two runs — for the admin scope only."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ui_support import sign_in

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def runs(ui_server) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTONOM_")}
    env["AUTONOM_HOME"] = str(ui_server.home)
    made = []
    for tag in ("produkt", "versionen"):
        done = subprocess.run([sys.executable, "-m", "autonom", "eval", "run", "sample",
                               "--tag", tag, "-m", "extractive", "--json", "--out",
                               str(ui_server.home / "reports")],
                              env=env, capture_output=True, text=True, timeout=300, check=True)
        made.append(json.loads(done.stdout)["runs"][0]["id"])
    return made


def test_runs_are_listed_for_admins_only(ui_server, runs):
    admin = sign_in(ui_server, "all")
    page = admin.get("/ui/evals")
    assert page.status_code == 200 and all(run in page.text for run in runs)
    assert sign_in(ui_server, "anna").get("/ui/evals").status_code == 403


def test_the_report_is_served_sandboxed_without_scripts(ui_server, runs):
    admin = sign_in(ui_server, "all")
    reply = admin.get("/ui/evals/report", params=[("run", runs[0]), ("run", runs[1])])
    assert reply.status_code == 200 and reply.text.count("<svg") >= 2
    policy = reply.headers.get_list("content-security-policy")
    assert policy == ["default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"]
    assert "<script" not in reply.text


def test_two_runs_are_compared_metric_by_metric(ui_server, runs):
    admin = sign_in(ui_server, "all")
    page = admin.get("/ui/evals/compare", params=[("run", runs[0]), ("run", runs[1])])
    assert page.status_code == 200 and "accuracy" in page.text and "Geänderte Fälle" in page.text
    one = admin.get("/ui/evals/compare", params=[("run", runs[0])])
    assert one.status_code == 400 and "two runs" in one.text
    unknown = admin.get("/ui/evals/report", params=[("run", "gibtsnicht")])
    assert unknown.status_code == 404
