"""The mcp-proxy example, end to end and offline: ``python examples/adapters/mcp_proxy/client.py``.

Starts ``railguard mcp-proxy`` over stdio (which starts ``payments_server.py`` behind it) on a
copy of ``mcp-proxy.toml`` in a temporary directory, and drives it with the ``mcp`` Client:
the poisoned tool is not listed, a payment without a fraud check is denied, after one it goes
through, and a large one escalates to a person. Exit status 0 when every step decided as expected.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]


def write_config(tmp: Path) -> Path:
    text = (HERE / "mcp-proxy.toml").read_text(encoding="utf-8")
    text = text.replace(
        'railguard = "../../payments/railguard.toml"', f'railguard = "{ROOT / "examples/payments/railguard.toml"}"'
    )
    text = text.replace('command = "python"', f'command = "{sys.executable}"')
    text = text.replace('cwd = "."', f'cwd = "{HERE}"')
    config = tmp / "mcp-proxy.toml"
    config.write_text(text, encoding="utf-8")
    return config


def pay(txn: str, amount: float) -> dict[str, Any]:
    return {"transaction_id": txn, "amount": amount, "currency": "EUR", "recipient": "ACME-SUPPLIES-001"}


async def story(config: Path) -> bool:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "adapters.mcp_proxy", "--config", str(config)], cwd=str(ROOT)
    )
    ok = True
    async with Client(params, cache=None) as client:
        listed = sorted(tool.name for tool in (await client.list_tools()).tools)
        print(f"tools offered: {listed}  (add_note is withheld: its description is poisoned)")
        ok &= "add_note" not in listed
        steps = [
            ("make_payment", pay("t1", 250), "deny"),
            ("fraud_check", {"transaction_id": "t1"}, "allow"),
            ("make_payment", pay("t1", 250), "allow"),
            ("fraud_check", {"transaction_id": "t2"}, "allow"),
            ("make_payment", pay("t2", 4000), "escalate"),
            ("add_note", {"transaction_id": "t1", "note": "..."}, "deny"),
        ]
        for tool, args, expected in steps:
            result = await client.call_tool(tool, args)
            doc = (result.meta or {}).get("io.railguard/decision", {})
            verdict = doc.get("verdict", "deny") if result.is_error else "allow"
            if result.is_error:
                shown = getattr(result.content[0], "text", "").splitlines()[0]
            else:
                shown = json.dumps(result.structured_content)
            print(f"{tool:13} {verdict:9} {shown}")
            ok &= verdict == expected
    return ok


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="railguard-mcp-") as tmp:
        return 0 if anyio.run(story, write_config(Path(tmp))) else 1


if __name__ == "__main__":
    sys.exit(main())
