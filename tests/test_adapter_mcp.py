"""``railguard mcp-proxy``: a real upstream MCP server process, the proxy as a real stdio subprocess,
and a real ``mcp`` Client driving it. The upstream counts its calls in a file, so a refused call is
proven never to have reached it.

The deployment is the bundled payments one (policies, parameters, tools.json traits); only the
``payments_agent`` role is widened to the extra tools the upstream offers.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

pytest.importorskip("mcp.server.mcpserver")  # the 2.x line (the mcp extra)

from mcp import Client, StdioServerParameters
from mcp_types import CallToolResult, Tool

from adapters.mcp import codes
from adapters.mcp.catalog import build_catalog
from adapters.mcp.config import load_proxy_config
from adapters.mcp.pins import PinStatus, PinStore, definition_hash
from adapters.mcp_proxy import main as proxy_main
from guardrails.cli import main as railguard_main

ROOT = Path(__file__).resolve().parents[1]
PAYMENTS = ROOT / "examples" / "payments"
UPSTREAM = Path(__file__).with_name("mcp_payments_server.py")
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
EXTRA_TOOLS = ["exchange_rate", "crash", "garble", "add_note"]


def pay(txn: str = "t1", amount: float = 100) -> dict[str, Any]:
    return {"transaction_id": txn, "amount": amount, "currency": "EUR", "recipient": "ACME-SUPPLIES-001"}


class Deployment:
    """The bundled payments deployment on a fresh ledger, and a proxy config for one upstream."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.calls = tmp / "calls.jsonl"
        self.railguard = tmp / "railguard.toml"
        self.proxy = tmp / "mcp-proxy.toml"
        self.ledger = tmp / "ledger.db"
        text = (PAYMENTS / "railguard.toml").read_text(encoding="utf-8")
        role = 'payments_agent = ["fraud_check", "make_payment", "lookup_customer", "send_email", "fetch_url"]'
        assert role in text, "the bundled payments role changed: update this fixture"
        text = text.replace(role, role[:-1] + ", " + ", ".join(f'"{t}"' for t in EXTRA_TOOLS) + "]")
        text = text.replace('policies = "../../policies"', f'policies = "{ROOT / "policies"}"')
        text = text.replace('tools = "tools.json"', f'tools = "{PAYMENTS / "tools.json"}"')
        self.railguard.write_text(text, encoding="utf-8")
        self.configure()

    def configure(self, *, rug_pull: bool = False) -> None:
        env = f'{{ PAYMENTS_CALLS = "{self.calls}", PAYMENTS_RUG_PULL = "{int(rug_pull)}" }}'
        self.proxy.write_text(
            f"""
railguard = "{self.railguard}"
ledger = "{self.ledger}"
call_timeout_s = 20
# A fresh upstream is a Python process importing the MCP SDK: on a loaded 2-core machine its start
# took over the 20 s default once; the test is about the crash, not the start-up time.
connect_timeout_s = 90

[agent]
id = "payments-bot"
roles = ["payments_agent"]

[[servers]]
name = "payments"
command = "{sys.executable}"
args = ["{UPSTREAM}"]
env = {env}
""",
            encoding="utf-8",
        )

    def upstream_calls(self, tool: str) -> int:
        if not self.calls.exists():
            return 0
        return sum(1 for line in self.calls.read_text().splitlines() if json.loads(line)["tool"] == tool)

    def traceparents(self) -> list[str | None]:
        return [json.loads(line)["traceparent"] for line in self.calls.read_text().splitlines()]

    def run(self, scenario: Callable[[Client], Awaitable[None]]) -> None:
        """Start the proxy as a subprocess over stdio and drive it with a real MCP client."""
        params = StdioServerParameters(
            command=sys.executable, args=["-m", "adapters.mcp_proxy", "--config", str(self.proxy)], cwd=str(ROOT)
        )

        async def main() -> None:
            with anyio.fail_after(90):
                async with Client(params, cache=None) as client:
                    await scenario(client)

        anyio.run(main)


@pytest.fixture
def deployment(tmp_path: Path) -> Deployment:
    return Deployment(tmp_path)


def text_of(result: CallToolResult) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


def railguard_meta(result: CallToolResult) -> dict[str, Any]:
    assert result.meta is not None
    doc: dict[str, Any] = result.meta["io.railguard/decision"]
    return doc


# -- the payments workflow through the proxy ------------------------------------------------------
def test_payment_without_fraud_check_is_denied_and_never_reaches_upstream(deployment: Deployment) -> None:
    async def scenario(client: Client) -> None:
        result = await client.call_tool("make_payment", pay())
        assert result.is_error
        assert "fraud_check_required" in text_of(result)
        assert railguard_meta(result)["codes"] == ["fraud_check_required"]

    deployment.run(scenario)
    assert deployment.upstream_calls("make_payment") == 0


def test_payment_after_passed_fraud_check_is_allowed(deployment: Deployment) -> None:
    async def scenario(client: Client) -> None:
        check = await client.call_tool("fraud_check", {"transaction_id": "t1"})
        assert not check.is_error, text_of(check)
        result = await client.call_tool("make_payment", pay())
        assert not result.is_error, text_of(result)
        assert result.structured_content == {"payment_id": "pay-t1", "status": "sent"}

    deployment.run(scenario)
    assert deployment.upstream_calls("make_payment") == 1


def test_payment_above_1000_escalates_with_ticket_id(deployment: Deployment) -> None:
    async def scenario(client: Client) -> None:
        await client.call_tool("fraud_check", {"transaction_id": "t2"})
        result = await client.call_tool("make_payment", pay("t2", 5000))
        assert result.is_error
        meta = railguard_meta(result)
        assert meta["verdict"] == "escalate" and meta["codes"] == ["amount_needs_approval"]
        assert meta["ticket"] and meta["ticket"] in text_of(result)

    deployment.run(scenario)
    assert deployment.upstream_calls("make_payment") == 0


def test_approved_ticket_lets_the_same_payment_through_once(deployment: Deployment) -> None:
    async def scenario(client: Client) -> None:
        await client.call_tool("fraud_check", {"transaction_id": "t3"})
        escalated = await client.call_tool("make_payment", pay("t3", 2000))
        ticket = railguard_meta(escalated)["ticket"]
        queue = ["queue", "--config", str(deployment.railguard), "--ledger", str(deployment.ledger)]
        assert railguard_main([*queue, "approve", ticket, "--as", "alice"]) == 0
        retried = await client.call_tool("make_payment", pay("t3", 2000))
        assert not retried.is_error, text_of(retried)

    deployment.run(scenario)
    assert deployment.upstream_calls("make_payment") == 1


def test_unknown_tool_is_denied_by_the_guard(deployment: Deployment) -> None:
    async def scenario(client: Client) -> None:
        result = await client.call_tool("wire_everything", {})
        assert result.is_error
        assert railguard_meta(result)["codes"] == ["unknown_tool"]

    deployment.run(scenario)


def test_traceparent_is_passed_to_the_upstream(deployment: Deployment) -> None:
    async def scenario(client: Client) -> None:
        await client.call_tool("fraud_check", {"transaction_id": "t1"}, meta={"traceparent": TRACEPARENT})

    deployment.run(scenario)
    assert deployment.traceparents() == [TRACEPARENT]


# -- tool poisoning, rug pulls, poisoned results ---------------------------------------------------
def test_poisoned_tool_description_is_withheld_and_its_calls_refused(deployment: Deployment) -> None:
    async def scenario(client: Client) -> None:
        listed = {tool.name for tool in (await client.list_tools()).tools}
        assert "add_note" not in listed
        assert {"make_payment", "fraud_check"} <= listed
        result = await client.call_tool("add_note", {"transaction_id": "t1", "note": "-----BEGIN OPENSSH"})
        assert result.is_error
        assert railguard_meta(result)["codes"] == [codes.TOOL_DESCRIPTION_INJECTION]

    deployment.run(scenario)
    assert deployment.upstream_calls("add_note") == 0


def test_changed_tool_definition_is_refused_until_pins_are_approved(deployment: Deployment) -> None:
    rate = {"base": "EUR", "quote": "USD"}

    async def first_run(client: Client) -> None:
        assert not (await client.call_tool("exchange_rate", rate)).is_error

    async def rug_pulled(client: Client) -> None:
        assert "exchange_rate" not in {tool.name for tool in (await client.list_tools()).tools}
        refused = await client.call_tool("exchange_rate", rate)
        assert refused.is_error
        assert railguard_meta(refused)["codes"] == [codes.TOOL_DEFINITION_CHANGED]
        # An operator reviews the new definition and approves it; the running proxy picks it up.
        assert await anyio.to_thread.run_sync(proxy_main, ["approve-pins", "--config", str(deployment.proxy)]) == 0
        allowed = await client.call_tool("exchange_rate", rate)
        assert not allowed.is_error, text_of(allowed)

    deployment.run(first_run)
    deployment.configure(rug_pull=True)
    deployment.run(rug_pulled)
    assert deployment.upstream_calls("exchange_rate") == 2


def test_tool_result_carrying_an_injection_is_denied(deployment: Deployment) -> None:
    async def scenario(client: Client) -> None:
        result = await client.call_tool("fetch_url", {"url": "https://example.com/invoice/42"})
        assert result.is_error
        assert railguard_meta(result)["codes"] == ["prompt_injection"]
        assert "Ignore all previous instructions" not in text_of(result)

    deployment.run(scenario)
    assert deployment.upstream_calls("fetch_url") == 1


# -- a bad day upstream -----------------------------------------------------------------------------
def test_upstream_crash_mid_call_gives_an_error_and_the_proxy_keeps_serving(deployment: Deployment) -> None:
    async def scenario(client: Client) -> None:
        crashed = await client.call_tool("crash", {})
        assert crashed.is_error
        assert railguard_meta(crashed)["codes"] == [codes.UPSTREAM_UNAVAILABLE]
        after = await client.call_tool("fraud_check", {"transaction_id": "t9"})  # a fresh upstream process
        assert not after.is_error, text_of(after)

    deployment.run(scenario)
    assert deployment.upstream_calls("crash") == 1
    assert deployment.upstream_calls("fraud_check") == 1


def test_malformed_upstream_message_does_not_break_the_proxy(deployment: Deployment) -> None:
    async def scenario(client: Client) -> None:
        await client.call_tool("garble", {})
        after = await client.call_tool("fraud_check", {"transaction_id": "t1"})
        assert not after.is_error, text_of(after)

    deployment.run(scenario)


# -- pins and the catalog, without processes --------------------------------------------------------
def _tool(name: str, description: str, schema: dict[str, Any] | None = None) -> Tool:
    return Tool(name=name, description=description, input_schema=schema or {"type": "object"})


def test_definition_hash_changes_with_the_description_only_when_it_changes() -> None:
    a = _tool("t", "Adds two numbers.").model_dump(by_alias=True, exclude_none=True)
    b = _tool("t", "Adds two numbers!").model_dump(by_alias=True, exclude_none=True)
    assert definition_hash(a) == definition_hash(dict(reversed(list(a.items()))))
    assert definition_hash(a) != definition_hash(b)


def test_pin_store_reports_changed_and_new_tools(tmp_path: Path) -> None:
    pins = PinStore(tmp_path / "pins.json")
    pins.pin("s", {"a": "sha256:1"})
    reread = PinStore(tmp_path / "pins.json")
    assert reread.status("s", "a", "sha256:1") is PinStatus.PINNED
    assert reread.status("s", "a", "sha256:2") is PinStatus.CHANGED
    assert reread.status("s", "b", "sha256:3") is PinStatus.UNPINNED


def test_unreadable_pin_file_is_a_config_error_not_an_empty_trust_store(tmp_path: Path) -> None:
    from guardrails.errors import ConfigError

    (tmp_path / "pins.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError):
        PinStore(tmp_path / "pins.json")


def test_same_tool_name_on_two_servers_is_exposed_with_server_prefixes(tmp_path: Path) -> None:
    config_path = tmp_path / "proxy.toml"
    config_path.write_text(
        'railguard = "railguard.toml"\n[[servers]]\nname = "a"\ncommand = "x"\n[[servers]]\nname = "b"\nurl = "http://127.0.0.1:1/mcp"\n',
        encoding="utf-8",
    )
    config = load_proxy_config(config_path)
    listings = {"a": [_tool("search", "Searches a."), _tool("only_a", "A.")], "b": [_tool("search", "Searches b.")]}
    catalog = build_catalog(config, listings, PinStore(tmp_path / "pins.json"), {}, None)
    assert sorted(catalog.entries) == ["a__search", "b__search", "only_a"]
    assert "a__search" in catalog.registry


def test_new_tool_on_a_pinned_server_is_withheld(tmp_path: Path) -> None:
    config_path = tmp_path / "proxy.toml"
    config_path.write_text('railguard = "r.toml"\n[[servers]]\nname = "a"\ncommand = "x"\n', encoding="utf-8")
    config = load_proxy_config(config_path)
    pins = PinStore(tmp_path / "pins.json")
    build_catalog(config, {"a": [_tool("one", "One.")]}, pins, {}, None)
    catalog = build_catalog(config, {"a": [_tool("one", "One."), _tool("two", "Two.")]}, pins, {}, None)
    two = catalog.get("two")
    assert two is not None and two.refusal is not None and two.refusal.code == codes.TOOL_NOT_PINNED
    assert "two" not in catalog.registry


@pytest.mark.parametrize(
    "body",
    [
        '[[servers]]\nname = "a"\n',  # no command, no url
        '[[servers]]\nname = "a"\ncommand = "x"\nurl = "http://h/mcp"\n',  # both
        '[[servers]]\nname = "a b"\ncommand = "x"\n',  # a name that cannot prefix a tool name
        '[[servers]]\nname = "a"\ncommand = "x"\n[[servers]]\nname = "a"\ncommand = "y"\n',  # twice
        'colour = "blue"\n[[servers]]\nname = "a"\ncommand = "x"\n',  # unknown key
    ],
)
def test_bad_proxy_config_is_refused_at_start(tmp_path: Path, body: str) -> None:
    from guardrails.errors import ConfigError

    path = tmp_path / "proxy.toml"
    path.write_text('railguard = "r.toml"\n' + body, encoding="utf-8")
    with pytest.raises(ConfigError):
        load_proxy_config(path)


def test_stdout_carries_only_json_rpc_in_stdio_mode(deployment: Deployment) -> None:
    import subprocess

    requests = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "0"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "garble", "arguments": {}}},
        {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "make_payment", "arguments": pay()}},
    ]
    proxy = subprocess.Popen(
        [sys.executable, "-m", "adapters.mcp_proxy", "--config", str(deployment.proxy)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert proxy.stdin is not None and proxy.stdout is not None
    answers = []
    for request in requests:
        proxy.stdin.write((json.dumps(request) + "\n").encode())
        proxy.stdin.flush()
        if "id" in request:
            answers.append(json.loads(proxy.stdout.readline()))  # every line is one JSON-RPC message
    out, err = proxy.communicate(timeout=30)
    assert out == b""
    assert [a["id"] for a in answers] == [1, 2, 3, 4]
    assert answers[2]["result"]["structuredContent"] == {"result": "garbled"}
    assert answers[3]["result"]["isError"] is True
    assert b"railguard.mcp_proxy" in err  # the log went to stderr


def test_bundled_example_runs_offline_and_decides_as_documented() -> None:
    import subprocess

    example = ROOT / "examples" / "adapters" / "mcp_proxy" / "client.py"
    done = subprocess.run([sys.executable, str(example)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    assert "escalate" in done.stdout
