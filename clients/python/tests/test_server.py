"""The HTTP client against the real server (``chatstore serve`` over SQLite, started by
run_tests.sh), on plain dicts: no Haystack involved."""

from __future__ import annotations

import unittest

from chatstore_haystack import (
    ChatstoreAuthError,
    ChatstoreClient,
    ChatstoreInvalidRequestError,
    History,
)
from support import (
    READONLY_TOKEN,
    TOKEN,
    TOKEN_SERVER_URL,
    assistant,
    assistant_calls,
    need,
    server_url,
    system,
    tool_call,
    tool_result,
    unique,
    user,
    with_id,
)


def weather_history():
    """haystack-experimental's TestGetLastKMessages.test_last_k_chat_history: two rounds,
    the second with a tool call and its result."""
    call = tool_call("get_weather", {"location": "Paris"}, "call_1")
    return [
        user("Hello!"),
        assistant("Hi! How can I assist you today?"),
        user("What is the weather in Paris?"),
        assistant_calls(call),
        tool_result("It's sunny in Paris.", call),
        assistant("The weather in Paris is sunny."),
    ]


def two_calls_history():
    """test_last_k_chat_history_with_two_tool_calls."""
    c1 = tool_call("get_weather", {"location": "Paris"})
    c2 = tool_call("get_time", {"location": "Paris"})
    return [
        user("What is the weather in Paris?"),
        assistant_calls(c1, c2),
        tool_result("It's sunny in Paris.", c1),
        tool_result("It's 3 PM in Paris.", c2),
        assistant("The weather in Paris is sunny and it's 3 PM there."),
        user("Thank you!"),
        assistant("You're welcome! Let me know if you have any other questions."),
    ]


class ServerTest(unittest.TestCase):
    def setUp(self):
        self.c = ChatstoreClient(server_url(), max_retries=0)

    def test_round_trip_with_tool_calls(self):
        hid = unique()
        msgs = weather_history()
        self.assertEqual(self.c.count(hid), 0)
        self.assertEqual(self.c.retrieve(hid), [])
        self.assertEqual(self.c.write(hid, msgs), 6)
        self.assertEqual(self.c.count(hid), 6)
        got = self.c.retrieve(hid, last_k="all")
        self.assertEqual(got, [with_id(m, str(i)) for i, m in enumerate(msgs)])
        # Retrieved messages carry their ids: writing them back stores nothing.
        self.assertEqual(self.c.write(hid, got), 0)
        # New messages get the next ids.
        self.assertEqual(self.c.write(hid, [user("And in Rome?")]), 1)
        self.assertEqual(self.c.retrieve(hid, last_k=1), [with_id(user("And in Rome?"), "6")])

    def test_last_k_counts_rounds(self):
        for name, msgs, cases in [
            ("weather", weather_history(), [(1, 2), (2, 0), (3, 0)]),
            ("two calls", two_calls_history(), [(1, 5), (2, 0)]),
        ]:
            hid = unique()
            self.c.write(hid, msgs)
            stored = [with_id(m, str(i)) for i, m in enumerate(msgs)]
            for last_k, start in cases:
                with self.subTest(history=name, last_k=last_k):
                    self.assertEqual(self.c.retrieve(hid, last_k=last_k), stored[start:])
            with self.subTest(history=name, last_k=0):
                self.assertEqual(self.c.retrieve(hid, last_k=0), [])

    def test_last_k_none_is_the_servers_default_of_10_rounds(self):
        hid = unique()
        msgs = []
        for i in range(12):
            msgs += [user(f"question {i}"), assistant(f"answer {i}")]
        self.c.write(hid, msgs)
        self.assertEqual(len(self.c.retrieve(hid)), 20)
        self.assertEqual(self.c.retrieve(hid)[0]["content"], [{"text": "question 2"}])
        self.assertEqual(len(self.c.retrieve(hid, last_k="all")), 24)
        self.assertEqual(len(self.c.retrieve(hid, last_k=100)), 24)

    def test_system_messages_are_skipped_by_the_server(self):
        hid = unique()
        self.assertEqual(self.c.write(hid, [system("Be brief."), user("Hi")]), 1)
        self.assertEqual(self.c.retrieve(hid), [with_id(user("Hi"), "0")])

    def test_caller_ids_and_meta_are_kept(self):
        hid = unique()
        m = user("Hi")
        m["meta"] = {"chat_message_id": "msg-a", "lang": "en", "score": 0.5}
        m["name"] = "alice"
        self.assertEqual(self.c.write(hid, [m, user("again")]), 2)
        got = self.c.retrieve(hid, last_k="all")
        self.assertEqual(got[0], m)
        # Haystack's counter starts at the history's count: "msg-a" took no number.
        self.assertEqual(got[1]["meta"]["chat_message_id"], "0")
        self.assertEqual(self.c.write(hid, [m]), 0)

    def test_idempotency_key_replays(self):
        hid = unique()
        key = "py-test-" + unique()
        self.assertEqual(self.c.write_idempotent(hid, key, [user("once")]), (1, False))
        self.assertEqual(self.c.write_idempotent(hid, key, [user("once")]), (1, True))
        self.assertEqual(self.c.count(hid), 1)
        with self.assertRaises(ChatstoreInvalidRequestError) as cm:
            self.c.write_idempotent(hid, key, [user("something else")])
        self.assertEqual((cm.exception.status, cm.exception.code), (422, "idempotency_key_reused"))

    def test_delete(self):
        hid, other = unique(), unique()
        self.c.write(hid, [user("a"), assistant("b")])
        self.c.write(other, [user("c")])
        self.assertIsNone(self.c.delete(hid))
        self.assertEqual(self.c.count(hid), 0)
        self.assertEqual(self.c.retrieve(hid), [])
        self.assertEqual(self.c.count(other), 1)
        self.c.delete(hid)  # an unknown history: nothing to do
        # A deleted history starts again from id "0".
        self.c.write(hid, [user("new")])
        self.assertEqual(self.c.retrieve(hid)[0]["meta"]["chat_message_id"], "0")

    def test_delete_all(self):
        a, b = unique("all"), unique("all")
        self.c.write(a, [user("a")])
        self.c.write(b, [user("b")])
        self.assertIsNone(self.c.delete_all())
        self.assertEqual((self.c.count(a), self.c.count(b)), (0, 0))
        self.assertEqual(self.c.list_histories().histories, [])

    def test_list_histories_in_pages(self):
        prefix = unique("list") + "/"
        ids = [f"{prefix}{i}" for i in range(5)]
        for n, hid in enumerate(ids):
            self.c.write(hid, [user(str(j)) for j in range(n + 1)])
        self.c.write(unique("elsewhere"), [user("x")])
        seen, cursor, pages = [], None, 0
        while True:
            page = self.c.list_histories(limit=2, cursor=cursor, prefix=prefix)
            pages += 1
            self.assertLessEqual(len(page.histories), 2)
            seen += page.histories
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        self.assertEqual(seen, [History(hid, n + 1) for n, hid in enumerate(ids)])
        self.assertIn(pages, (3, 4))  # 2 + 2 + 1, and perhaps an empty last page
        self.assertEqual(list(self.c.iter_histories(prefix=prefix, page_size=3)), seen)

    def test_range_pages_in_order(self):
        hid = unique()
        msgs = [user(f"m{i}") if i % 2 == 0 else assistant(f"m{i}") for i in range(7)]
        self.c.write(hid, msgs)
        stored = [with_id(m, str(i)) for i, m in enumerate(msgs)]
        self.assertEqual(self.c.range(hid, 0, 3), stored[:3])
        self.assertEqual(self.c.range(hid, 3, 3), stored[3:6])
        self.assertEqual(self.c.range(hid, 6, 3), stored[6:])
        self.assertEqual(self.c.range(hid, 7, 3), [])
        self.assertEqual(list(self.c.iter_messages(hid, page_size=3)), stored)
        self.assertEqual(list(self.c.iter_messages(hid, page_size=7)), stored)

    def test_history_ids_that_need_encoding(self):
        prefix = unique("ids") + ":"
        ids = ["session/1", ".", "..", "a b?c#d&e=f", "100%", "ünï cødé", "%2F", "x/../y"]
        for hid in ids:
            with self.subTest(hid=hid):
                full = prefix + hid if hid not in (".", "..") else hid
                self.c.delete(full)
                self.assertEqual(self.c.write(full, [user(full)]), 1)
                self.assertEqual(self.c.count(full), 1)
                self.assertEqual(self.c.retrieve(full)[0]["content"], [{"text": full}])
                self.c.delete(full)
                self.assertEqual(self.c.count(full), 0)
        self.c.write(prefix + "session/1", [user("x")])
        self.assertEqual([h.chat_history_id for h in self.c.iter_histories(prefix=prefix)], [prefix + "session/1"])

    def test_errors_carry_the_servers_message(self):
        hid = unique()
        with self.assertRaises(ValueError) as cm:
            self.c.write(hid, [user("fine"), {"role": "robot", "content": [{"text": "x"}]}])
        e = cm.exception
        self.assertIsInstance(e, ChatstoreInvalidRequestError)
        self.assertEqual((e.status, e.code), (400, "invalid_message"))
        self.assertIn("messages[1]", e.message)
        self.assertTrue(str(e).startswith(e.message))
        self.assertEqual(self.c.count(hid), 0)  # nothing of a refused write is stored

        with self.assertRaises(ValueError) as cm:
            self.c.count("tenant:someone")
        self.assertEqual(cm.exception.code, "invalid_history_id")
        self.assertIn("tenant:", cm.exception.message)

        with self.assertRaises(ValueError) as cm:
            self.c.list_histories(limit=0)
        self.assertEqual(cm.exception.code, "invalid_limit")

        with self.assertRaises(ValueError) as cm:
            self.c.range(hid, 0, 1001)
        self.assertEqual(cm.exception.code, "invalid_range")

        with self.assertRaises(ValueError) as cm:
            self.c.list_histories(cursor="not a cursor")
        self.assertEqual(cm.exception.code, "invalid_cursor")


class TokenServerTest(unittest.TestCase):
    def setUp(self):
        self.url = need(TOKEN_SERVER_URL, "CHATSTORE_TEST_TOKEN_SERVER_URL")

    def test_missing_or_unknown_token_is_refused(self):
        for token in (None, "not-a-token-0123456789"):
            with self.subTest(token=token):
                c = ChatstoreClient(self.url, token=token, max_retries=0)
                with self.assertRaises(PermissionError) as cm:
                    c.write(unique(), [user("x")])
                e = cm.exception
                self.assertIsInstance(e, ChatstoreAuthError)
                self.assertEqual((e.status, e.code), (401, "unauthorized"))
                self.assertTrue(e.message)
                self.assertIn(e.message, str(e))
                with self.assertRaises(ChatstoreAuthError):
                    c.count("x")

    def test_token_works(self):
        c = ChatstoreClient(self.url, token=TOKEN, max_retries=0)
        hid = unique()
        self.assertEqual(c.write(hid, [user("hi"), assistant("hello")]), 2)
        self.assertEqual(c.count(hid), 2)
        self.assertEqual([h.chat_history_id for h in c.iter_histories(prefix=hid)], [hid])

    def test_read_only_token_cannot_write(self):
        c = ChatstoreClient(self.url, token=need(READONLY_TOKEN, "CHATSTORE_TEST_READONLY_TOKEN"), max_retries=0)
        self.assertEqual(c.count(unique()), 0)
        with self.assertRaises(ChatstoreAuthError) as cm:
            c.write(unique(), [user("x")])
        self.assertEqual((cm.exception.status, cm.exception.code), (403, "forbidden"))
        with self.assertRaises(PermissionError):
            c.delete_all()


if __name__ == "__main__":
    unittest.main()
