"""``railguard serve`` as a real process: it starts on a loopback port, answers with a key, sets
GOGC for the embedded OPA engine, refuses bad configuration, and stops cleanly on SIGTERM."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

COMMAND = [sys.executable, "-m", "guardrails.service"]
ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GOGC", "RAILGUARD_SERVE_REEXEC")}
    env["PYTHONPATH"] = str(ROOT)
    return env


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args], cwd=cwd, env=environment(), capture_output=True, text=True, timeout=60, check=False
    )


def test_serve_answers_with_a_key_and_stops_on_sigterm(tmp_path: Path) -> None:
    made = run(["keys", "create", "bot", "--role", "agent:payments_agent"], tmp_path)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    port = free_port()
    server = subprocess.Popen(
        [*COMMAND, "serve", "--port", str(port)],
        cwd=tmp_path,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.communicate()[1]
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        call = {"tool": "fraud_check", "args": {"transaction_id": "t1"}, "session_id": "s1"}
        response = httpx.post(f"{base}/v1/authorize", json=call, headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 200 and response.json()["verdict"] == "allow"
        assert httpx.post(f"{base}/v1/authorize", json=call).status_code == 401
        environ = Path(f"/proc/{server.pid}/environ").read_bytes().split(b"\0")
        if importlib.util.find_spec("opa_bindings") is not None:  # re-exec'd with GOGC for the OPA engine
            assert b"GOGC=400" in environ and b"RAILGUARD_SERVE_REEXEC=1" in environ
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            _, stderr = server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
    assert server.returncode in (0, -signal.SIGTERM), stderr
    assert "Application shutdown complete" in stderr
    assert (tmp_path / "railguard.db").exists() and (tmp_path / "railguard-keys.db").exists()


def test_serve_refuses_bad_configuration_with_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "railguard.toml"
    config.write_text('[railguard]\npolicies = "missing"\ntools = "missing.json"\n')
    done = run(["serve", "--config", str(config), "--port", str(free_port())], tmp_path)
    assert done.returncode == 2
    assert "railguard: error" in done.stderr


def test_keys_revoke_and_list(tmp_path: Path) -> None:
    assert run(["keys", "create", "alice", "--role", "reviewer"], tmp_path).returncode == 0
    assert run(["keys", "create", "alice", "--role", "reviewer"], tmp_path).returncode == 2  # one live key each
    assert run(["keys", "revoke", "alice"], tmp_path).returncode == 0
    assert run(["keys", "revoke", "alice"], tmp_path).returncode == 1
    listing = run(["keys", "list"], tmp_path).stdout
    assert "alice\treviewer" in listing and "revoked" in listing and "rg_" not in listing


@pytest.mark.parametrize("role", ["admin", "agent:", "agent:a b"])
def test_keys_refuse_unknown_roles(tmp_path: Path, role: str) -> None:
    done = run(["keys", "create", "x", "--role", role], tmp_path)
    assert done.returncode == 2 and "invalid_role" in done.stderr
