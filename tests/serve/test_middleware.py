"""Against a real `rsiqa serve`: only the hosts it is bound to (a DNS-rebinding precondition closed), the
API's own CORS policy (closed by default, whatever Gradio allows), and no upload route."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from live_server import rsiqa_server
from rsiqa.serve.middleware import allowed_hosts, host_of

PREFLIGHT = {"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "content-type"}


def test_host_of_strips_ports_and_keeps_ipv6() -> None:
    assert host_of("[::1]:8000") == "::1" and host_of("LocalHost:80") == "localhost" and host_of("a.example") == "a.example"
    assert allowed_hosts("127.0.0.1", []) == {"127.0.0.1", "localhost", "::1"}
    assert allowed_hosts("0.0.0.0", ["rsiqa.example"]) == {"rsiqa.example"}
    assert allowed_hosts("192.0.2.7", []) == {"192.0.2.7"}


@pytest.mark.slow
def test_unknown_hosts_are_refused(real_index_dir: Path, tmp_path: Path) -> None:
    with rsiqa_server(real_index_dir, tmp_path / "run") as url:
        port = url.rsplit(":", 1)[1]
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
            assert httpx.get(f"{url}/api/health", headers={"Host": host}, timeout=10).status_code == 200, host
        for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1.evil.example:{port}"):
            for path in ("/api/health", "/", "/docs"):
                response = httpx.get(f"{url}{path}", headers={"Host": host}, timeout=10)
                assert response.status_code == 400 and "RSIQA_ALLOWED_HOSTS" in response.text, (host, path)
        answer = httpx.post(f"{url}/api/query", json={"question": "What is KANSI?"},
                            headers={"Host": f"evil.example:{port}"}, timeout=30)
        assert answer.status_code == 400


@pytest.mark.slow
def test_configured_hosts_replace_the_default(real_index_dir: Path, tmp_path: Path) -> None:
    with rsiqa_server(real_index_dir, tmp_path / "run", wait_for_page=False,
                      env={"RSIQA_ALLOWED_HOSTS": "127.0.0.1,rsiqa.example"}) as url:
        assert httpx.get(f"{url}/api/health", headers={"Host": "rsiqa.example"}, timeout=10).status_code == 200
        assert httpx.get(f"{url}/api/health", headers={"Host": "localhost"}, timeout=10).status_code == 400


@pytest.mark.slow
def test_api_cors_is_closed_by_default(real_index_dir: Path, tmp_path: Path) -> None:
    with rsiqa_server(real_index_dir, tmp_path / "run") as url:
        preflight = httpx.options(f"{url}/api/query", headers=PREFLIGHT, timeout=10)
        assert "access-control-allow-origin" not in preflight.headers, preflight.headers
        assert "access-control-allow-credentials" not in preflight.headers
        post = httpx.post(f"{url}/api/query", json={"question": "What is KANSI?"},
                          headers={"Origin": "http://localhost:3000"}, timeout=30)
        assert "access-control-allow-origin" not in post.headers


@pytest.mark.slow
def test_api_cors_follows_its_setting(real_index_dir: Path, tmp_path: Path) -> None:
    with rsiqa_server(real_index_dir, tmp_path / "run", wait_for_page=False,
                      env={"RSIQA_CORS_ORIGINS": "https://app.example"}) as url:
        allowed = httpx.options(f"{url}/api/query", headers={**PREFLIGHT, "Origin": "https://app.example"}, timeout=10)
        assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == "https://app.example"
        assert "access-control-allow-credentials" not in allowed.headers
        other = httpx.options(f"{url}/api/query", headers=PREFLIGHT, timeout=10)
        assert "access-control-allow-origin" not in other.headers
