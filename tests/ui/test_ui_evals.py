"""Evaluation pages of the web UI: runs made by 'autonom eval run', their sandboxed report,
and the comparison of two runs — for the admin scope only."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest

from autonom.config import Settings
from autonom.services import Services
from autonom.store.evals import EvalStore
from support import engine_env
from ui_support import sign_in

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def runs(ui_server) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTONOM_")}
    env["AUTONOM_HOME"] = str(ui_server.home)
    env.update(engine_env())
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


def test_a_run_started_in_the_ui_is_stored_like_one_from_the_cli(ui_server):
    admin = sign_in(ui_server, "all")
    page = admin.get("/ui/evals").text
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    started = admin.post("/ui/evals/run", data={"csrf": token, "set": "sample",
                                                "model": "extractive", "tags": "produkt"})
    assert started.status_code == 303
    deadline = time.monotonic() + 120
    finished = None
    while time.monotonic() < deadline:
        finished = re.search(r'class="job done">[^<]*<a href="/ui/evals/report\?run=(\w+)"',
                             admin.get("/ui/evals").text.replace("\n", " "))
        if finished:
            break
        time.sleep(0.5)
    assert finished is not None
    run = EvalStore(Services(Settings(home=ui_server.home)).db).run(finished.group(1))
    assert run.label == "extractive" and run.summary["accuracy"] >= 0.5


@pytest.mark.parametrize(("fields", "status", "message"), [
    ({"set": "sample"}, 400, "at least one model"),
    ({"set": "gibtsnicht.yaml", "model": "extractive"}, 404, "no stored eval set"),
    ({"set": "sample", "model": "extractive", "tags": "gibtsnicht"}, 400, "no case has"),
])
def test_a_run_that_cannot_work_is_refused_before_it_starts(ui_server, fields, status,
                                                            message):
    admin = sign_in(ui_server, "all")
    token = re.search(r'name="csrf" value="([^"]+)"', admin.get("/ui/evals").text).group(1)
    reply = admin.post("/ui/evals/run", data={"csrf": token, **fields})
    assert reply.status_code == status and message in reply.text
    anna = sign_in(ui_server, "anna")
    assert anna.post("/ui/evals/run", data={"csrf": "x", **fields}).status_code == 403
