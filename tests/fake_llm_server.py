"""A small OpenAI-compatible chat-completions server with scripted replies, for tests.

    python tests/fake_llm_server.py --port 8765 [--script FILE]

Serves ``POST /v1/chat/completions`` (``"stream": true``: SSE ``data: {...}`` chunks, then
``data: [DONE]``; otherwise one JSON completion). Each call takes the next behaviour of the
script, the last one repeating. A behaviour is a JSON object:

* ``{"reply": "text"}``: answer with this text;
* ``{"status": 500}``: answer with that HTTP status;
* ``{"malformed": true}``: a 200 whose body (or first chunk) is not valid JSON;
* ``{"cut": true, "reply": "..."}``: stream half of the reply, then close without ``[DONE]``
  (not streamed: half of the JSON body);
* ``{"sleep": 5}``: wait that many seconds first (past the client's timeout);
* ``{"chunk_delay": 0.05}``: wait between streamed chunks.

``GET /calls`` returns ``{"count": n, "requests": [the request bodies]}``; ``POST /script`` with
``{"replies": [...]}`` replaces the script and resets the count. The script FILE holds the same
object. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class State:
    """The script and what was asked so far (shared by the handler threads)."""

    def __init__(self, replies: list[dict[str, Any]]) -> None:
        self.lock = threading.Lock()
        self.replies = replies or [{"reply": "Nothing scripted."}]
        self.requests: list[dict[str, Any]] = []

    def next(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.requests.append(body)
            return self.replies[min(len(self.requests) - 1, len(self.replies) - 1)]


def _pieces(text: str) -> list[str]:
    """The reply in token-like pieces (a word and the space before it)."""
    return re.findall(r"\s*\S+", text) or [""]


def make_handler(state: State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _json(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length) or b"{}")

        def do_GET(self) -> None:
            if self.path == "/calls":
                with state.lock:
                    self._json(200, {"count": len(state.requests), "requests": state.requests})
            else:
                self._json(404, {"error": "not found"})

        def do_POST(self) -> None:
            if self.path == "/script":
                body = self._body()
                with state.lock:
                    state.replies = body.get("replies") or [{"reply": "Nothing scripted."}]
                    state.requests = []
                self._json(200, {"ok": True})
                return
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._json(404, {"error": {"message": f"no route {self.path}"}})
                return
            body = self._body()
            behaviour = state.next(body)
            time.sleep(float(behaviour.get("sleep", 0)))
            if behaviour.get("status", 200) != 200:
                self._json(int(behaviour["status"]), {"error": {"message": "scripted failure"}})
                return
            text = str(behaviour.get("reply", ""))
            if body.get("stream"):
                self._stream(text, behaviour)
            else:
                self._whole(text, behaviour, body)

        def _whole(self, text: str, behaviour: dict[str, Any], body: dict[str, Any]) -> None:
            if behaviour.get("malformed"):
                data = b'{"choices": [{"message": {"content": "unfinished'
            else:
                data = json.dumps({
                    "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
                    "model": body.get("model", "fake"),
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
                }).encode()
            if behaviour.get("cut"):
                data = data[: len(data) // 2]
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()  # HTTP/1.0, no length: the body ends when the connection closes
            self.wfile.write(data)

        def _stream(self, text: str, behaviour: dict[str, Any]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            if behaviour.get("malformed"):
                self.wfile.write(b"data: {this is not json\n\n")
                self.wfile.flush()
                return
            pieces = _pieces(text)
            if behaviour.get("cut"):
                pieces = pieces[: max(1, len(pieces) // 2)]
            delay = float(behaviour.get("chunk_delay", 0))
            for i, piece in enumerate(pieces):
                delta = {"role": "assistant", "content": piece} if i == 0 else {"content": piece}
                chunk = {"id": "chatcmpl-fake", "object": "chat.completion.chunk",
                         "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
                if delay:
                    time.sleep(delay)
            if behaviour.get("cut"):
                return
            end = {"id": "chatcmpl-fake", "object": "chat.completion.chunk",
                   "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
            self.wfile.write(f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n".encode())
            self.wfile.flush()

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--script", type=Path, help='JSON file: {"replies": [behaviour, ...]}')
    args = parser.parse_args()
    replies = json.loads(args.script.read_text())["replies"] if args.script else []
    server = ThreadingHTTPServer((args.host, args.port), make_handler(State(replies)))
    server.daemon_threads = True
    print(f"fake LLM server on http://{args.host}:{args.port}/v1", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
