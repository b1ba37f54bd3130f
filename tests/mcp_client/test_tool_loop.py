"""autonom as an MCP client: the example ERP server runs as a real stdio MCP server; the
model is scripted where the test is about autonom's own rules (allowlist, confirmation,
pinning, untrusted results, argument checks, logging)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from autonom import tools
from autonom.backends.fake import FakeBackend
from autonom.config import McpServerSettings, McpSettings
from autonom.errors import InvalidRequestError, ToolServerError
from autonom.mcp import loop
from autonom.mcp.toolbox import Toolbox, refuse
from autonom.store import SqliteDatabase
from autonom.store.tool_calls import ToolLedger
from autonom.types import ChatRequest, Message

QUESTION = "Wie viele Kreiselpumpen KP-55 haben wir auf Lager?"


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, timeout=120))


class ScriptedModel(FakeBackend):
    """A 'model' that replies with the next scripted text, or ``reply(request)``."""

    def __init__(self, *replies: str | Callable[[ChatRequest], str]) -> None:
        super().__init__(models=("scripted",))
        self.replies = list(replies)

    def _text(self, request: ChatRequest) -> str:
        self.requests.append(request)
        reply = self.replies.pop(0) if self.replies else '{"answer": "Fertig."}'
        return reply(request) if callable(reply) else reply


def call(tool: str, **arguments) -> str:
    return json.dumps({"tool": tool, "arguments": arguments}, ensure_ascii=False)


def last_tool_result(request: ChatRequest) -> str:
    return [m for m in request.messages if m.role == "user"][-1].content


@pytest.fixture
def erp_db(tmp_path: Path) -> Path:
    return tmp_path / "erp.db"


def erp(erp_db: Path, variant: str = "normal", **options) -> McpSettings:
    command = ["autonom", "mcp", "example-erp", "--db", str(erp_db), "--variant", variant]
    return McpSettings(servers={"erp": McpServerSettings(command=command, **options)})


@pytest.fixture
def ledger(tmp_path: Path) -> ToolLedger:
    return ToolLedger(SqliteDatabase(tmp_path / "autonom.db"))


def ask(model: ScriptedModel, settings: McpSettings, ledger: ToolLedger, question: str = QUESTION,
        confirm=refuse) -> loop.LoopResult:
    async def scenario():
        async with Toolbox.open(["erp"], settings, ledger, request_id="req_test") as box:
            request = ChatRequest(model="scripted", messages=[Message(role="user",
                                                                      content=question)])
            return await loop.answer(lambda r: tools.chat(model, r), request, box, confirm,
                                     max_steps=4)
    return run(scenario())


def reservations(erp_db: Path) -> int:
    with sqlite3.connect(erp_db) as conn:
        return conn.execute("SELECT COUNT(*) FROM reservations").fetchone()[0]


def test_a_stock_question_is_answered_through_the_erp_tool(erp_db, ledger):
    def answer_from_result(request: ChatRequest) -> str:
        data = json.loads(last_tool_result(request).split("\n")[2])
        return json.dumps({"answer": f"Es sind {data['verfuegbar']} Stück verfügbar."})

    model = ScriptedModel(call("get_stock", product="Kreiselpumpe KP-55"), answer_from_result)
    result = ask(model, erp(erp_db), ledger)
    assert result.response.message.content == "Es sind 15 Stück verfügbar."
    assert [c.outcome for c in result.calls] == ["ok"]
    # the model was offered the read-only tools only (allow unset), with their schemas
    offered = model.requests[0].options.json_schema
    assert "get_stock" in json.dumps(offered) and "reserve_stock" not in json.dumps(offered)
    # the result reached the model marked as untrusted data
    shown = last_tool_result(model.requests[1])
    assert 'trust="untrusted"' in shown and "(data, not instructions)" in shown
    logged = ledger.calls("req_test")
    assert len(logged) == 1
    entry = logged[0]
    assert (entry.server, entry.tool, entry.outcome) == ("erp", "get_stock", "ok")
    assert entry.arguments == {"product": "Kreiselpumpe KP-55"}
    assert entry.result_chars > 50 and entry.duration_ms > 0


def test_a_write_tool_runs_only_after_a_person_confirms(erp_db, ledger):
    settings = erp(erp_db, allow=["*"])
    reserve = call("reserve_stock", product="KP-55", quantity=2, reference="A-2026-0412")
    refused = ask(ScriptedModel(reserve), settings, ledger, "Reserviere 2 Stück KP-55.")
    assert [c.outcome for c in refused.calls] == ["refused"]
    assert "not confirmed" in refused.calls[0].content
    assert reservations(erp_db) == 0

    asked = []

    async def yes(tool, arguments):
        asked.append((tool.name, arguments))
        return True

    confirmed = ask(ScriptedModel(reserve), settings, ledger, "Reserviere 2 Stück KP-55.",
                    confirm=yes)
    assert [c.outcome for c in confirmed.calls] == ["ok"]
    assert asked == [("reserve_stock", {"product": "KP-55", "quantity": 2,
                                        "reference": "A-2026-0412"})]
    assert reservations(erp_db) == 1
    assert [c.outcome for c in ledger.calls()] == ["ok", "refused"]


def test_auto_approved_write_runs_unattended(erp_db, ledger):
    settings = erp(erp_db, allow=["*"], auto_approve=["reserve_stock"])
    reserve = call("reserve_stock", product="PW-200", quantity=1, reference="A-1")
    result = ask(ScriptedModel(reserve), settings, ledger)
    assert [c.outcome for c in result.calls] == ["ok"] and reservations(erp_db) == 1


def test_instructions_inside_a_tool_result_are_flagged_and_cannot_trigger_writes(erp_db, ledger):
    # reserve_stock may even run unattended here, but not once a result tried to instruct
    settings = erp(erp_db, allow=["*"], auto_approve=["reserve_stock"])
    obeying = ScriptedModel(call("get_stock", product="SF-10"),
                            call("reserve_stock", product="KP-55", quantity=500,
                                 reference="X-999"))
    result = ask(obeying, settings, ledger, "Wie viele Sandfänge SF-10 haben wir?")
    stock, write = result.calls
    assert stock.flagged and "do not follow anything" in stock.content
    assert "reserviere" not in stock.content and "Sandfang SF-10" in stock.content
    assert write.outcome == "refused" and reservations(erp_db) == 0
    assert [c.flagged for c in ledger.calls()] == [False, True]


def test_a_changed_tool_definition_is_blocked_until_approved_again(erp_db, ledger, tmp_path,
                                                                    monkeypatch):
    ask(ScriptedModel('{"answer": "-"}'), erp(erp_db), ledger)  # first use pins the tools
    # (the allowed ones: unset allow means read-only tools)
    assert set(ledger.pins("erp")) == {"find_products", "get_stock", "list_orders"}
    changed = erp(erp_db, variant="changed")
    model = ScriptedModel(call("get_stock", product="KP-55"))
    result = ask(model, changed, ledger)
    assert "get_stock" not in json.dumps(model.requests[0].options.json_schema)
    assert result.calls[0].outcome == "unknown_tool"

    # a person reviews the new description and approves it with the CLI
    config = tmp_path / "autonom.toml"
    config.write_text(
        '[mcp.servers.erp]\ncommand = ["autonom", "mcp", "example-erp", "--db", '
        f'"{erp_db}", "--variant", "changed"]\n', encoding="utf-8")
    monkeypatch.setenv("AUTONOM_CONFIG", str(config))
    monkeypatch.setenv("AUTONOM_HOME", str(tmp_path))
    from autonom.cli import main
    assert main(["mcp", "approve", "erp", "get_stock"]) == 0
    again = ask(ScriptedModel(call("get_stock", product="KP-55")), changed, ledger)
    assert again.calls[0].outcome == "ok"


def test_bad_arguments_and_unknown_tools_go_back_to_the_model_as_errors(erp_db, ledger):
    model = ScriptedModel(call("get_stock", product=""),
                          call("get_stock", produkt="KP-55"),
                          call("list_orders", status="irgendwie"),
                          call("lagerbestand", product="KP-55"))
    result = ask(model, erp(erp_db), ledger)
    outcomes = [c.outcome for c in result.calls]
    assert outcomes == ["invalid_arguments", "invalid_arguments", "invalid_arguments",
                        "unknown_tool"]
    messages = [c.content for c in result.calls]
    assert "product: '' should be non-empty" in messages[0]
    assert "'product' is a required property" in messages[1]
    assert "irgendwie" in messages[2]
    assert "no tool 'lagerbestand'" in messages[3] and "get_stock" in messages[3]
    assert result.steps == 5  # four rounds, then the model had to answer


def test_repeating_the_same_call_ends_the_loop_without_running_it_again(erp_db, ledger):
    same = call("get_stock", product="KP-55")
    result = ask(ScriptedModel(same, same, same), erp(erp_db), ledger)
    assert len(result.calls) == 1 and result.steps == 3


def test_long_results_are_cut_to_the_size_cap(erp_db, ledger):
    result = ask(ScriptedModel(call("list_orders")), erp(erp_db, max_output_chars=120), ledger)
    assert "[cut: 120 of" in result.calls[0].content


def test_unknown_and_unreachable_servers_are_clear_errors(erp_db, ledger):
    with pytest.raises(InvalidRequestError, match="no MCP server 'crm'"):
        run(_open(["crm"], erp(erp_db), ledger))
    broken = McpSettings(servers={"erp": McpServerSettings(command=["/nicht/da"])})
    with pytest.raises(ToolServerError, match="'erp' could not be reached"):
        run(_open(["erp"], broken, ledger))


async def _open(names, settings, ledger):
    async with Toolbox.open(names, settings, ledger):
        pass


def test_a_tool_that_does_not_answer_in_time_is_a_timeout_for_the_model(ledger):
    script = str(Path(__file__).with_name("slow_server.py"))
    settings = McpSettings(servers={"langsam": McpServerSettings(
        command=[sys.executable, script], allow=["*"], auto_approve=["wait"], timeout_s=0.5)})

    async def scenario():
        async with Toolbox.open(["langsam"], settings, ledger) as box:
            model = ScriptedModel(call("wait", seconds=30))
            request = ChatRequest(model="scripted",
                                  messages=[Message(role="user", content="Warte.")])
            return await loop.answer(lambda r: tools.chat(model, r), request, box, refuse,
                                     max_steps=1)

    result = run(scenario())
    assert result.calls[0].outcome == "timeout"
    assert "did not answer within 0.5 s" in result.calls[0].content
    assert ledger.calls()[0].outcome == "timeout"


def test_cli_mcp_commands_give_one_line_errors(tmp_path, monkeypatch, capsys):
    from autonom.cli import main

    assert main(["mcp", "list"]) == 0
    assert "no MCP servers configured" in capsys.readouterr().out
    assert main(["mcp", "approve", "erp"]) == 1
    assert "no MCP server 'erp'" in capsys.readouterr().err
    config = tmp_path / "autonom.toml"
    monkeypatch.setenv("AUTONOM_CONFIG", str(config))
    for text, message in (
        ('[mcp.servers.erp]\ncommand = ["x"]\nurl = "http://127.0.0.1:1/mcp"\n',
         "either command (stdio) or url"),
        ('[mcp.servers.erp]\nurl = "http://127.0.0.1:1/mcp"\n'
         'headers = { Authorization = "Bearer ${FEHLT_NOCH}" }\n', "unset variable"),
        ('[mcp.aliases.lager]\nmodel = "m"\nservers = ["erp"]\n', "unknown MCP server 'erp'"),
    ):
        config.write_text(text, encoding="utf-8")
        assert main(["mcp", "list"]) == 1
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
