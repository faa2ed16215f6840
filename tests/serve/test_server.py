"""`rsiqa serve` fails clearly: a port already taken is one line saying how to choose another, exit 1."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest
from conftest import run_rsiqa

from live_server import free_port, rsiqa_server

pytestmark = pytest.mark.slow


def test_a_taken_port_is_one_clear_line(real_index_dir: Path, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_port()))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_rsiqa("serve", "--port", str(port), "--index", str(real_index_dir), cwd=tmp_path, timeout=120)
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert "serving on" not in done.stdout and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[0] == (f"Error: port {port} on 127.0.0.1 is already in use (another server is running there): "
                        "stop it, or choose another port with --port N or RSIQA_PORT=N"), lines
    assert lines[1:] == ["(run with --debug for the full traceback)"]


def test_head_health_answers(real_index_dir: Path, tmp_path: Path) -> None:
    with rsiqa_server(real_index_dir, tmp_path / "run") as url:
        response = httpx.head(f"{url}/api/health", timeout=10)
        assert response.status_code == 200 and response.content == b""
        assert httpx.get(f"{url}/api/health", timeout=10).json()["chat_page"] == "ok"
