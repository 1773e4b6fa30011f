"""The HTTP client against a scripted fake server: retries, backoff, Retry-After,
Idempotency-Key, error mapping, encoding of ids. No chatstore server needed; pauses
are recorded by a fake sleep, never slept."""

from __future__ import annotations

import socket
import unittest
import uuid

from chatstore_haystack import (
    ChatstoreAuthError,
    ChatstoreClient,
    ChatstoreError,
    ChatstoreInvalidRequestError,
    ChatstoreUnavailableError,
    history_path,
)
from support import DROP, HANG, FakeServer, Sleeps, error_body, user

OK_WRITE = (200, {}, {"messages_written": 1})
UNAVAILABLE = (503, {"Retry-After": "0"}, error_body("store_unavailable", "the store cannot be reached"))


class RetryTest(unittest.TestCase):
    def client(self, url: str, **kw) -> ChatstoreClient:
        self.sleeps = Sleeps()
        return ChatstoreClient(url, sleep=self.sleeps, **kw)

    def test_503_twice_then_200_sends_one_idempotency_key(self):
        with FakeServer(UNAVAILABLE, UNAVAILABLE, OK_WRITE) as fake:
            n = self.client(fake.url).write("h", [user("Hi")])
        self.assertEqual(n, 1)
        self.assertEqual(len(fake.requests), 3)
        keys = {r.headers.get("Idempotency-Key") for r in fake.requests}
        self.assertEqual(len(keys), 1, keys)
        key = keys.pop()
        self.assertEqual(str(uuid.UUID(key)), key)  # a UUID
        self.assertEqual(len({r.body for r in fake.requests}), 1)  # the same bytes each time
        self.assertEqual(fake.requests[0].json(), {"messages": [user("Hi")]})
        self.assertEqual(fake.requests[0].headers.get("Content-Type"), "application/json")
        self.assertEqual(self.sleeps, [0, 0])  # Retry-After: 0, honoured

    def test_each_write_has_its_own_key(self):
        with FakeServer(OK_WRITE, OK_WRITE) as fake:
            c = self.client(fake.url)
            c.write("h", [user("a")])
            c.write("h", [user("a")])
        self.assertNotEqual(fake.requests[0].headers["Idempotency-Key"], fake.requests[1].headers["Idempotency-Key"])

    def test_given_key_is_sent_and_replay_reported(self):
        with FakeServer((200, {"Idempotent-Replayed": "true"}, {"messages_written": 2})) as fake:
            n, replayed = self.client(fake.url).write_idempotent("h", "my-key-1", [user("a"), user("b")])
        self.assertEqual((n, replayed), (2, True))
        self.assertEqual(fake.requests[0].headers["Idempotency-Key"], "my-key-1")

    def test_reads_and_deletes_are_retried_too(self):
        with FakeServer(UNAVAILABLE, (200, {}, {"chat_history_id": "h", "count": 3}), UNAVAILABLE, (204, {}, b"")) as fake:
            c = self.client(fake.url)
            self.assertEqual(c.count("h"), 3)
            self.assertIsNone(c.delete("h"))
        self.assertEqual([r.method for r in fake.requests], ["GET", "GET", "DELETE", "DELETE"])
        self.assertNotIn("Idempotency-Key", fake.requests[0].headers)

    def test_4xx_is_never_retried(self):
        cases = [
            (400, "invalid_message", ChatstoreInvalidRequestError),
            (401, "unauthorized", ChatstoreAuthError),
            (403, "forbidden", ChatstoreAuthError),
            (404, "not_found", ChatstoreError),
            (405, "method_not_allowed", ChatstoreError),
            (413, "body_too_large", ChatstoreInvalidRequestError),
            (415, "unsupported_media_type", ChatstoreInvalidRequestError),
            (422, "idempotency_key_reused", ChatstoreInvalidRequestError),
            (429, "too_many_requests", ChatstoreError),
            (431, "headers_too_large", ChatstoreInvalidRequestError),
        ]
        for status, code, kind in cases:
            with self.subTest(status=status):
                msg = f"what was wrong with this {status}"
                with FakeServer((status, {"Retry-After": "0"}, error_body(code, msg)), OK_WRITE) as fake:
                    with self.assertRaises(kind) as cm:
                        self.client(fake.url).write("h", [user("x")])
                self.assertEqual(len(fake.requests), 1)
                self.assertEqual(self.sleeps, [])
                e = cm.exception
                self.assertEqual((e.status, e.code, e.message), (status, code, msg))
                self.assertIn(msg, str(e))
                self.assertNotIsInstance(e, ChatstoreUnavailableError)

    def test_400_is_a_value_error_with_the_servers_message(self):
        msg = "messages[0].role: unknown role \"robot\""
        with FakeServer((400, {}, error_body("invalid_message", msg))) as fake:
            with self.assertRaises(ValueError) as cm:
                self.client(fake.url).write("h", [{"role": "robot", "content": []}])
        self.assertIsInstance(cm.exception, ChatstoreInvalidRequestError)
        self.assertTrue(str(cm.exception).startswith(msg), str(cm.exception))

    def test_401_is_a_permission_error(self):
        with FakeServer((401, {"WWW-Authenticate": "Bearer"}, error_body("unauthorized", "a bearer token is required"))) as fake:
            with self.assertRaises(PermissionError):
                self.client(fake.url).count("h")

    def test_500_is_not_retried(self):
        with FakeServer((500, {}, error_body("internal", "a bug")), OK_WRITE) as fake:
            with self.assertRaises(ChatstoreError) as cm:
                self.client(fake.url).write("h", [user("x")])
        self.assertEqual(len(fake.requests), 1)
        self.assertEqual(cm.exception.code, "internal")

    def test_503_on_every_try_gives_up(self):
        script = [(503, {"Retry-After": "0"}, error_body("overloaded", "too much in flight"))] * 4
        with FakeServer(*script) as fake:
            with self.assertRaises(ChatstoreUnavailableError) as cm:
                self.client(fake.url, max_retries=3).count("h")
        e = cm.exception
        self.assertIsInstance(e, ConnectionError)
        self.assertEqual(len(fake.requests), 4)
        self.assertEqual((e.status, e.code, e.attempts), (503, "overloaded", 4))
        self.assertIn("too much in flight", str(e))
        self.assertIn("tried 4 times", str(e))
        self.assertFalse(e.outcome_unknown)

    def test_outcome_unknown_write_keeps_its_key(self):
        unknown = (503, {"Retry-After": "0"}, error_body("outcome_unknown", "the write may or may not be stored"))
        with FakeServer(unknown, unknown) as fake:
            with self.assertRaises(ChatstoreUnavailableError) as cm:
                self.client(fake.url, max_retries=1).write("h", [user("x")])
        e = cm.exception
        self.assertTrue(e.outcome_unknown)
        self.assertEqual(e.idempotency_key, fake.requests[0].headers["Idempotency-Key"])
        # Sending it again with that key is what the error asks for.
        with FakeServer(OK_WRITE) as fake2:
            self.client(fake2.url).write("h", [user("x")], idempotency_key=e.idempotency_key)
        self.assertEqual(fake2.requests[0].headers["Idempotency-Key"], e.idempotency_key)
        self.assertEqual(fake2.requests[0].body, fake.requests[0].body)

    def test_backoff_without_retry_after(self):
        bare = (503, {}, error_body("store_timeout", "slow"))
        with FakeServer(bare, bare, bare, bare, bare, OK_WRITE) as fake:
            self.client(fake.url, max_retries=5, backoff=0.5, max_backoff=3.0).write("h", [user("x")])
        self.assertEqual(len(fake.requests), 6)
        ceilings = [0.5, 1.0, 2.0, 3.0, 3.0]  # doubling, capped at max_backoff
        self.assertEqual(len(self.sleeps), 5)
        for pause, ceiling in zip(self.sleeps, ceilings):
            self.assertGreaterEqual(pause, ceiling / 2)
            self.assertLessEqual(pause, ceiling)

    def test_retry_after_is_honoured_and_capped(self):
        with FakeServer(
            (503, {"Retry-After": "7"}, error_body("store_unavailable", "down")),
            (503, {"Retry-After": "100000"}, error_body("store_unavailable", "down")),
            (503, {"Retry-After": "not a number"}, error_body("store_unavailable", "down")),
            OK_WRITE,
        ) as fake:
            self.client(fake.url, max_retries=3, max_retry_after=30, backoff=1, max_backoff=1).write("h", [user("x")])
        self.assertEqual(self.sleeps[:2], [7, 30])
        self.assertTrue(0.5 <= self.sleeps[2] <= 1)  # unreadable: backoff

    def test_proxy_502_and_504_are_retried(self):
        with FakeServer((502, {}, b"<html>Bad Gateway</html>"), (504, {}, b"<html>Gateway Timeout</html>"), OK_WRITE) as fake:
            self.client(fake.url).write("h", [user("x")])
        self.assertEqual(len(fake.requests), 3)
        self.assertEqual(len({r.headers["Idempotency-Key"] for r in fake.requests}), 1)

    def test_answer_without_the_apis_error_body(self):
        with FakeServer((502, {}, b"<html>Bad Gateway</html>")) as fake:
            with self.assertRaises(ChatstoreUnavailableError) as cm:
                self.client(fake.url, max_retries=0).count("h")
        self.assertEqual(cm.exception.code, "http_502")
        self.assertIn("Bad Gateway", str(cm.exception))
        self.assertTrue(cm.exception.outcome_unknown is False)  # a read

    def test_dropped_connection_is_retried_with_the_same_key(self):
        with FakeServer(DROP, OK_WRITE) as fake:
            self.assertEqual(self.client(fake.url).write("h", [user("x")]), 1)
        self.assertEqual(len(fake.requests), 2)
        self.assertEqual(fake.requests[0].headers["Idempotency-Key"], fake.requests[1].headers["Idempotency-Key"])
        self.assertEqual(len(self.sleeps), 1)

    def test_dropped_connection_on_every_try(self):
        with FakeServer(DROP, DROP) as fake:
            with self.assertRaises(ChatstoreUnavailableError) as cm:
                self.client(fake.url, max_retries=1).write("h", [user("x")])
        e = cm.exception
        self.assertTrue(e.outcome_unknown)  # the request was received: it may have been stored
        self.assertEqual(e.attempts, 2)
        self.assertIn("idempotency_key", str(e))

    def test_timeout_is_retried_then_reported(self):
        with FakeServer(HANG, HANG) as fake:
            with self.assertRaises(ChatstoreUnavailableError) as cm:
                self.client(fake.url, max_retries=1, timeout=0.2).write("h", [user("x")])
        self.assertEqual(cm.exception.attempts, 2)
        self.assertEqual(len(self.sleeps), 1)
        self.assertIn("no answer within 0.2 s", str(cm.exception))
        self.assertTrue(cm.exception.outcome_unknown)

    def test_connection_refused_is_retried_then_reported(self):
        # A bound socket that does not listen refuses connections, and holds the port.
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        try:
            url = f"http://127.0.0.1:{s.getsockname()[1]}"
            with self.assertRaises(ChatstoreUnavailableError) as cm:
                self.client(url, max_retries=2).write("h", [user("x")])
        finally:
            s.close()
        e = cm.exception
        self.assertIsInstance(e, ConnectionError)
        self.assertEqual(e.attempts, 3)
        self.assertEqual(len(self.sleeps), 2)
        self.assertIn(f"cannot reach the chatstore server at {url}", str(e))
        self.assertIn("tried 3 times", str(e))
        self.assertFalse(e.outcome_unknown)  # never connected: nothing was stored

    def test_redirects_are_not_followed(self):
        with FakeServer((307, {"Location": "http://127.0.0.1:1/elsewhere"}, b""), OK_WRITE) as fake:
            with self.assertRaises(ChatstoreError) as cm:
                self.client(fake.url, token="secret-token-0123456789").write("h", [user("x")])
        self.assertEqual(cm.exception.status, 307)
        self.assertEqual(len(fake.requests), 1)

    def test_token_is_sent_as_bearer(self):
        ok = (200, {}, {"chat_history_id": "h", "count": 0})
        with FakeServer(ok, ok) as fake:
            self.client(fake.url, token="t0k3n-0123456789abcdef").count("h")
            self.client(fake.url).count("h")
        self.assertEqual(fake.requests[0].headers.get("Authorization"), "Bearer t0k3n-0123456789abcdef")
        self.assertNotIn("Authorization", fake.requests[1].headers)

    def test_url_prefix_and_query(self):
        page = (200, {}, {"histories": [{"chat_history_id": "a b", "count": 2}], "next_cursor": None})
        msgs = (200, {}, {"messages": []})
        with FakeServer(page, msgs, msgs, msgs) as fake:
            c = self.client(fake.url + "/chat/")
            p = c.list_histories(limit=5, prefix="a b&c")
            c.retrieve("h", last_k="all")
            c.retrieve("h")
            c.range("h", 10, 20)
        self.assertEqual(p.histories[0].chat_history_id, "a b")
        self.assertIsNone(p.next_cursor)
        self.assertEqual(
            [r.path for r in fake.requests],
            [
                "/chat/v1/histories?limit=5&prefix=a+b%26c",
                "/chat/v1/histories/h/messages?last_k=all",
                "/chat/v1/histories/h/messages",
                "/chat/v1/histories/h/messages?offset=10&limit=20",
            ],
        )

    def test_history_ids_are_percent_encoded(self):
        cases = {
            "session/1": "session%2F1",
            ".": "%2E",
            "..": "%2E%2E",
            "...": "...",
            "a.b": "a.b",
            "a b?c#d&e=f%": "a%20b%3Fc%23d%26e%3Df%25",
            "ünï": "%C3%BCn%C3%AF",
            "x:y@z+~": "x%3Ay%40z%2B~",
        }
        ok = (200, {}, {"chat_history_id": "", "count": 0})
        with FakeServer(*([ok] * len(cases))) as fake:
            c = self.client(fake.url)
            for hid in cases:
                c.count(hid)
        for (hid, seg), r in zip(cases.items(), fake.requests):
            self.assertEqual(history_path(hid), "/v1/histories/" + seg)
            self.assertEqual(r.path, "/v1/histories/" + seg, hid)

    def test_arguments_checked_before_sending(self):
        with FakeServer() as fake:
            c = self.client(fake.url)
            with self.assertRaisesRegex(ValueError, "last_k must be 0 or greater"):
                c.retrieve("h", last_k=-1)
            with self.assertRaises(TypeError):
                c.retrieve("h", last_k=True)
            with self.assertRaises(ValueError):
                c.retrieve("h", last_k="some")
            with self.assertRaises(ValueError):
                c.count("")
            with self.assertRaises(TypeError):
                c.count(42)
            with self.assertRaises(TypeError):
                c.write("h", user("not a list"))
        self.assertEqual(fake.requests, [])

    def test_bad_server_urls(self):
        for url in ["127.0.0.1:8080", "ftp://host", "http://", "http://host/?q=1"]:
            with self.subTest(url=url), self.assertRaises(ValueError):
                ChatstoreClient(url)


if __name__ == "__main__":
    unittest.main()
