"""Call the chat page's functions through Gradio's queue over HTTP, as any client can (by ``fn_index``)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx


def call_page(url: str, question: str, fn_index: int = 0, session: str | None = None,
              timeout: float = 120) -> tuple[Any, Any]:
    """Join the queue with ``question`` for event ``fn_index`` (0: the question box's submit) and wait for the
    result (the states, shown/turns/rated, come from the session); returns (success, output) or the queue's refusal (e.g. ("queue_full", message)).
    The page's notices (``gr.Warning``, ``gr.Info``) come in ``output["logs"]`` as (level, text) pairs."""
    session = session or uuid.uuid4().hex[:11]
    with httpx.Client(base_url=url, timeout=timeout) as client:
        join = client.post("/gradio_api/queue/join", json={"data": [question, None, None, None, False], "fn_index": fn_index,
                                                           "session_hash": session, "event_data": None})
        if join.status_code != 200:
            return join.status_code, join.text
        logs: list[tuple[str, str]] = []
        with client.stream("GET", "/gradio_api/queue/data", params={"session_hash": session}) as stream:
            for line in stream.iter_lines():
                if line.startswith("data:"):
                    message = json.loads(line[5:])
                    if message.get("msg") == "log":
                        logs.append((message.get("level"), message.get("log")))
                    if message.get("msg") == "process_completed":
                        output = message.get("output")
                        if isinstance(output, dict):
                            output["logs"] = logs
                        return message.get("success"), output
                    if message.get("msg") in ("queue_full", "unexpected_error"):
                        return message.get("msg"), message
    return None, None
