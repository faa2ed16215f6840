"""Start `rsiqa serve` as a real process on a free local port, for REST and browser tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from processes import free_port, stop_process, wait_until_ready  # benchmarks/processes.py (pytest's pythonpath)

REPO = Path(__file__).resolve().parents[1]



def server_env(work_dir: Path, **settings: str) -> dict[str, str]:
    """A test server's environment: offline, temp files under ``work_dir``, no RSIQA_* but the given settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RSIQA_")}
    env.update({
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "GRADIO_TEMP_DIR": str(work_dir / "gradio"),
        "TORCHINDUCTOR_CACHE_DIR": str(work_dir / "torchinductor"),
        "PYTHONUNBUFFERED": "1",
        # The exported model is shared with the test process (which runs in the repo), not made again.
        "RSIQA_MODEL_CACHE_DIR": str(REPO / ".cache" / "models"),
    })
    env.update({f"RSIQA_{k.upper()}": v for k, v in settings.items()})
    return env


@contextmanager
def rsiqa_server(index_dir: Path, work_dir: Path, timeout: float = 180, wait_for_page: bool = True,
                 env: dict[str, str] | None = None, preexec_fn=None, **settings: str) -> Iterator[str]:
    """Run ``rsiqa serve --index index_dir`` until the block ends; yields its base URL once it answers.

    "Answers" is ``/api/health`` 200 and, unless ``wait_for_page`` is false, the chat page served
    at ``/`` (it is mounted a few seconds after the API starts). ``env`` adds environment variables;
    ``preexec_fn`` runs in the child before it starts (e.g. to lower its file-descriptor limit).
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = work_dir / "server.log"
    command = [sys.executable, "-m", "rsiqa.serve.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
               "--index", str(index_dir)]
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=work_dir, env={**server_env(work_dir, **settings), **(env or {})},
                                   stdout=log, stderr=subprocess.STDOUT, preexec_fn=preexec_fn)  # noqa: PLW1509
    url = f"http://127.0.0.1:{port}"
    def ready() -> bool:
        try:
            return httpx.get(f"{url}/api/health", timeout=5).status_code == 200 and (
                not wait_for_page or httpx.get(f"{url}/", timeout=5).status_code == 200)
        except httpx.HTTPError:
            return False

    try:
        wait_until_ready(process, ready, timeout, "rsiqa serve", log_path.read_text, pause=0.3)
        yield url
    finally:
        stop_process(process)
