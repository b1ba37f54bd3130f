"""Helpers for the web UI tests: sign in over HTTP, read CSRF tokens, chat and collect the
server-sent events."""

from __future__ import annotations

import json
import re

import httpx

from server_support import RunningServer


def csrf_of(html: str, name: str = "csrf") -> str:
    if name == "meta":
        return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def sign_in(server: RunningServer, key: str) -> httpx.Client:
    client = httpx.Client(base_url=server.url, timeout=120)
    page = client.get("/ui/login")
    reply = client.post("/ui/login", data={"csrf": csrf_of(page.text), "key": server.keys[key]})
    assert reply.status_code == 303 and reply.headers["location"] == "/ui/chat"
    return client


def chat(client: httpx.Client, model: str, question: str) -> list[tuple[str, dict]]:
    token = csrf_of(client.get("/ui/chat").text, "meta")
    reply = client.post("/ui/chat", headers={"x-csrf-token": token},
                        json={"model": model, "max_tokens": 24,
                              "messages": [{"role": "user", "content": question}]})
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/event-stream")
    events = []
    for block in reply.text.strip().split("\n\n"):
        name = re.search(r"^event: (\w+)", block, re.M).group(1)
        events.append((name, json.loads(re.search(r"^data: (.*)$", block, re.M).group(1))))
    return events


# -- in the browser (a Playwright page) --------------------------------------------------


def browser_sign_in(page, server: RunningServer, key: str = "anna") -> None:
    page.goto(f"{server.url}/ui")
    page.get_by_label("API-Schlüssel").fill(server.keys[key])
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_url("**/ui/chat")


def ask(page, question: str) -> object:
    count = page.locator(".message.assistant").count()
    page.get_by_label("Ihre Frage").fill(question)
    page.keyboard.press("Enter")
    answer = page.locator(".message.assistant").nth(count)
    answer.locator(".actions").wait_for()  # the stream is finished
    return answer
