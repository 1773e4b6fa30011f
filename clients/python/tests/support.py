"""What the tests share: where the servers are, message dicts, a scripted fake server,
and the import of the Haystack store (with a stand-in for Haystack when it is absent).

The real servers are started by ../run_tests.sh, which sets:

- ``CHATSTORE_TEST_SERVER_URL``: ``chatstore serve`` over SQLite, without tokens;
- ``CHATSTORE_TEST_TOKEN_SERVER_URL``: one with a tokens file, whose tokens are
  ``CHATSTORE_TEST_TOKEN`` and ``CHATSTORE_TEST_READONLY_TOKEN`` (read-only);
- ``CHATSTORE_TEST_MEMORY_SERVER_URL``: one over the in-memory store, which keeps
  compaction records.

Without them the tests that need a server skip, saying so; with CI=true they fail.
"""

from __future__ import annotations

import http.server
import json
import os
import sys
import threading
import unittest
import uuid
from typing import Any, Dict, List, Optional, Tuple, Union

SERVER_URL = os.environ.get("CHATSTORE_TEST_SERVER_URL", "")
TOKEN_SERVER_URL = os.environ.get("CHATSTORE_TEST_TOKEN_SERVER_URL", "")
TOKEN = os.environ.get("CHATSTORE_TEST_TOKEN", "")
READONLY_TOKEN = os.environ.get("CHATSTORE_TEST_READONLY_TOKEN", "")
MEMORY_SERVER_URL = os.environ.get("CHATSTORE_TEST_MEMORY_SERVER_URL", "")

_CI = os.environ.get("CI", "").lower() == "true"


def need(value: str, what: str) -> str:
    """Returns value, or skips the test (fails it under CI=true) when it is empty."""
    if not value:
        msg = f"{what} is not set: run clients/python/run_tests.sh, which starts the servers"
        if _CI:
            raise AssertionError(msg)
        raise unittest.SkipTest(msg)
    return value


def server_url() -> str:
    return need(SERVER_URL, "CHATSTORE_TEST_SERVER_URL")


def memory_server_url() -> str:
    return need(MEMORY_SERVER_URL, "CHATSTORE_TEST_MEMORY_SERVER_URL")


def unique(prefix: str = "py") -> str:
    """A history id no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# Messages in Haystack's ChatMessage.to_dict() format.


def user(text: str) -> Dict[str, Any]:
    return {"role": "user", "meta": {}, "name": None, "content": [{"text": text}]}


def system(text: str) -> Dict[str, Any]:
    return {"role": "system", "meta": {}, "name": None, "content": [{"text": text}]}


def assistant(text: str) -> Dict[str, Any]:
    return {"role": "assistant", "meta": {}, "name": None, "content": [{"text": text}]}


def tool_call(name: str, arguments: Dict[str, Any], call_id: Optional[str] = None) -> Dict[str, Any]:
    return {"tool_name": name, "arguments": arguments, "id": call_id, "extra": None}


def assistant_calls(*calls: Dict[str, Any]) -> Dict[str, Any]:
    return {"role": "assistant", "meta": {}, "name": None, "content": [{"tool_call": c} for c in calls]}


def tool_result(result: str, origin: Dict[str, Any], error: bool = False) -> Dict[str, Any]:
    return {
        "role": "tool",
        "meta": {},
        "name": None,
        "content": [{"tool_call_result": {"result": result, "origin": origin, "error": error}}],
    }


def agent_turns() -> List[Dict[str, Any]]:
    """Two agent turns whose tool results (#2, #8) are large enough to be pruned, and two
    plain rounds: internal/chattest.AgentTurns of the Go tests."""
    big = "sunny and warm, " * 150
    c1 = tool_call("get_weather", {"city": "Paris"}, "call_1")
    c2 = tool_call("get_weather", {"city": "Rome"}, "call_2")
    return [
        user("Weather in Paris?"), assistant_calls(c1), tool_result(big, c1), assistant("Sunny."),
        user("Thanks."), assistant("You're welcome."),
        user("And Rome?"), assistant_calls(c2), tool_result(big, c2), assistant("Sunny too."),
        user("Tomorrow?"), assistant("I cannot tell."),
    ]


def with_id(message: Dict[str, Any], chat_message_id: str) -> Dict[str, Any]:
    out = dict(message)
    out["meta"] = {**message.get("meta", {}), "chat_message_id": chat_message_id}
    return out


# The Haystack store, with Haystack or, when it is not installed, the stand-in.

STANDIN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "standin")


def haystack_modules() -> Tuple[Any, bool]:
    """Imports ``haystack``; returns it and whether it is the tests' stand-in."""
    try:
        import haystack  # noqa: F401
    except ImportError:
        if STANDIN_DIR not in sys.path:
            sys.path.insert(0, STANDIN_DIR)
        import haystack
    return haystack, bool(getattr(haystack, "STANDIN", False))


# A scripted HTTP server, to see what the client sends and how it takes answers
# the real server gives only under faults (503s, dropped connections).

DROP = "drop"  # close the connection without answering
HANG = "hang"  # answer nothing until the server stops

Step = Union[str, Tuple[int, Dict[str, str], Any]]


class Recorded:
    def __init__(self, method: str, path: str, headers: Dict[str, str], body: bytes) -> None:
        self.method = method
        self.path = path  # as sent, percent-encoding and all
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


class FakeServer:
    """Answers each request with the next step of its script: ``(status, headers, body)``
    (a body that is not bytes is sent as JSON), ``DROP`` or ``HANG``. Records every
    request before answering it. Use as a context manager."""

    def __init__(self, *script: Step) -> None:
        self.script: List[Step] = list(script)
        self.requests: List[Recorded] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with fake._lock:
                    fake.requests.append(Recorded(self.command, self.path, dict(self.headers.items()), body))
                    step = fake.script.pop(0) if fake.script else (500, {}, {"error": {"code": "internal", "message": "script exhausted"}})
                if step == DROP:
                    self.close_connection = True
                    return
                if step == HANG:
                    fake._stop.wait()
                    self.close_connection = True
                    return
                status, headers, payload = step
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if not isinstance(payload, bytes):
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _handle

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self) -> "FakeServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def error_body(code: str, message: str) -> Dict[str, Any]:
    return {"error": {"code": code, "message": message}}


class Sleeps(list):
    """Stands in for time.sleep: records each pause instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
