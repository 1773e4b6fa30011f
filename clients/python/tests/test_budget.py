"""Token budgets and compaction records (issue 17): what the client sends and how it
reads the answers, against a scripted fake server; then against the real servers
(run_tests.sh), the in-memory one for compactions, on plain dicts and through the
Haystack store."""

from __future__ import annotations

import unittest
import urllib.parse

from chatstore_haystack import ChatstoreClient, ChatstoreError, History, Retrieved
from support import (
    FakeServer,
    agent_turns,
    assistant,
    error_body,
    haystack_modules,
    memory_server_url,
    server_url,
    unique,
    user,
    with_id,
)

WINDOW = {
    "tokens": 40, "max_tokens": 100, "rounds": 2, "more": True, "exceeded": False, "pruned": 1,
    "compaction": {"through": "3", "created_at": "2026-12-01T09:30:00.123Z", "tokens": 9, "summarized": False},
    "omitted": 4, "omitted_tokens": 900,
}
SUMMARY = {"role": "user", "meta": {}, "name": None, "content": [{"text": "The user asked about Paris."}]}
RECORD = {
    "through": "3",
    "summary": with_id({**SUMMARY, "meta": {"context_compaction": {"strategy": "summarization", "through": "3"}}}, "3"),
    "tokens": 9, "created_at": "2026-12-01T09:30:00.123Z", "in_effect": False,
}


def query(path: str) -> dict:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(path).query))


class BudgetRequestTest(unittest.TestCase):
    def client(self, url: str) -> ChatstoreClient:
        return ChatstoreClient(url, max_retries=0)

    def test_retrieve_window_sends_the_options_and_returns_the_window(self):
        msgs = [with_id(user("Tomorrow?"), "10"), with_id(assistant("I cannot tell."), "11")]
        with FakeServer((200, {}, {"messages": msgs, "window": WINDOW}), (200, {}, {"messages": msgs, "window": WINDOW})) as fake:
            c = self.client(fake.url)
            got = c.retrieve_window("s/1", 2, max_tokens=100, compacted=False, prune_tool_results=True)
            self.assertEqual(c.retrieve("s/1", max_tokens=100), msgs)
        self.assertEqual(got, Retrieved(messages=msgs, window=WINDOW))
        self.assertEqual(urllib.parse.urlsplit(fake.requests[0].path).path, "/v1/histories/s%2F1/messages")
        self.assertEqual(
            query(fake.requests[0].path),
            {"last_k": "2", "max_tokens": "100", "compacted": "false", "prune_tool_results": "true"},
        )
        self.assertEqual(query(fake.requests[1].path), {"max_tokens": "100"})

    def test_defaults_send_nothing_new(self):
        with FakeServer((200, {}, {"messages": []})) as fake:
            got = self.client(fake.url).retrieve_window("h")
        self.assertEqual(got, Retrieved(messages=[], window=None))  # a server before token budgets
        self.assertEqual(query(fake.requests[0].path), {})

    def test_bad_options_are_refused_before_any_request(self):
        with FakeServer() as fake:
            c = self.client(fake.url)
            for kwargs, error in [
                ({"max_tokens": 0}, ValueError),
                ({"max_tokens": -5}, ValueError),
                ({"max_tokens": "100"}, TypeError),
                ({"max_tokens": True}, TypeError),
                ({"compacted": "no"}, TypeError),
                ({"prune_tool_results": 1}, TypeError),
            ]:
                with self.subTest(**kwargs), self.assertRaises(error):
                    c.retrieve("h", **kwargs)
            with self.assertRaises(ValueError):
                c.compact("h", "", SUMMARY)
            with self.assertRaises(ValueError):
                c.compact("h", 3, SUMMARY)
            with self.assertRaises(TypeError):
                c.compact("h", "3", [SUMMARY])
        self.assertEqual(fake.requests, [])

    def test_compact_and_compactions(self):
        listed = {**RECORD, "in_effect": True}
        with FakeServer((201, {}, RECORD), (200, {}, {"compactions": [listed]})) as fake:
            c = self.client(fake.url)
            self.assertEqual(c.compact("s/1", "3", SUMMARY), RECORD)
            self.assertEqual(c.compactions("s/1"), [listed])
        post, get = fake.requests
        self.assertEqual((post.method, post.path), ("POST", "/v1/histories/s%2F1/compactions"))
        self.assertEqual(post.json(), {"through": "3", "summary": SUMMARY})
        self.assertEqual((get.method, get.path), ("GET", "/v1/histories/s%2F1/compactions"))

    def test_compact_errors_carry_the_servers_code(self):
        for status, code in [(404, "message_not_found"), (501, "not_supported")]:
            with self.subTest(code=code):
                with FakeServer((status, {}, error_body(code, "no"))) as fake:
                    with self.assertRaises(ChatstoreError) as cm:
                        self.client(fake.url).compact("h", "9", SUMMARY)
                self.assertEqual((cm.exception.status, cm.exception.code), (status, code))

    def test_histories_have_their_tokens(self):
        page = {"histories": [{"chat_history_id": "a", "count": 2, "tokens": 17}, {"chat_history_id": "b", "count": 1, "tokens": None}],
                "next_cursor": None}
        with FakeServer((200, {}, page)) as fake:
            got = self.client(fake.url).list_histories()
        self.assertEqual([(h.chat_history_id, h.count, h.tokens) for h in got.histories], [("a", 2, 17), ("b", 1, None)])
        self.assertEqual(got.histories[0], History("a", 2))  # equal whatever their tokens


class BudgetServerTest(unittest.TestCase):
    """The real servers: budgets on SQLite, compactions on the in-memory store."""

    def test_budget_keeps_the_newest_rounds_that_fit(self):
        c = ChatstoreClient(server_url(), max_retries=0)
        hid = unique()
        c.write(hid, agent_turns())
        whole = c.retrieve_window(hid, "all")
        self.assertEqual(len(whole.messages), 12)
        self.assertFalse(whole.window["more"])
        got = c.retrieve_window(hid, "all", max_tokens=60)
        self.assertEqual(got.messages, whole.messages[-2:])  # the last round; the one before holds a large result
        w = got.window
        self.assertEqual((w["max_tokens"], w["rounds"], w["more"], w["exceeded"]), (60, 1, True, False))
        self.assertLessEqual(w["tokens"], 60)
        # Pruned: the older large result becomes Haystack's placeholder.
        pruned = c.retrieve_window(hid, "all", prune_tool_results=True)
        self.assertEqual(pruned.window["pruned"], 1)
        result = pruned.messages[2]["content"][0]["tool_call_result"]
        self.assertIn("Call `get_weather` again", result["result"])
        self.assertEqual(pruned.messages[8], whole.messages[8])  # the newest step's result stays
        with self.assertRaises(ValueError) as cm:
            c.retrieve(hid, max_tokens=0)
        self.assertIsInstance(cm.exception, ValueError)

    def test_compaction_stands_in_place_of_what_it_covers(self):
        c = ChatstoreClient(memory_server_url(), max_retries=0)
        hid = unique()
        c.write(hid, agent_turns())
        self.assertEqual(c.compactions(hid), [])
        rec = c.compact(hid, "5", SUMMARY)
        self.assertEqual(rec["through"], "5")
        self.assertEqual(rec["summary"]["meta"]["chat_message_id"], "5")
        self.assertEqual(rec["summary"]["meta"]["context_compaction"], {"strategy": "summarization", "through": "5"})
        self.assertGreater(rec["tokens"], 0)
        listed = c.compactions(hid)
        self.assertEqual(len(listed), 1)
        self.assertTrue(listed[0]["in_effect"])
        self.assertEqual({k: v for k, v in listed[0].items() if k != "in_effect"}, {k: v for k, v in rec.items() if k != "in_effect"})

        got = c.retrieve_window(hid, "all")
        self.assertEqual(got.messages[0], rec["summary"])
        self.assertEqual([m["meta"]["chat_message_id"] for m in got.messages], ["5", "6", "7", "8", "9", "10", "11"])
        self.assertEqual(got.window["compaction"]["through"], "5")
        self.assertTrue(got.window["compaction"]["summarized"])
        # The messages stay: compacted=False and pages read them.
        self.assertEqual(len(c.retrieve(hid, "all", compacted=False)), 12)
        self.assertEqual(c.range(hid, 0, 1)[0]["content"], [{"text": "Weather in Paris?"}])
        # Writing back what was retrieved writes nothing: the summary has its through's id.
        self.assertEqual(c.write(hid, got.messages), 0)

        with self.assertRaises(ChatstoreError) as cm:
            c.compact(hid, "99", SUMMARY)
        self.assertEqual((cm.exception.status, cm.exception.code), (404, "message_not_found"))
        with self.assertRaises(ValueError) as cm:
            c.compact(hid, "5", {"role": "robot", "content": [{"text": "x"}]})
        self.assertIn("summary", cm.exception.message)


class BudgetStoreTest(unittest.TestCase):
    """The Haystack store's budget and compaction calls, on ChatMessage objects."""

    def test_store(self):
        haystack_modules()
        from haystack.dataclasses import ChatMessage

        from chatstore_haystack import ChatstoreChatMessageStore

        store = ChatstoreChatMessageStore(url=memory_server_url(), token=None)
        hid = unique()
        store.client.write(hid, agent_turns())
        rec = store.compact(hid, "5", ChatMessage.from_dict(SUMMARY))
        self.assertIsInstance(rec["summary"], ChatMessage)
        self.assertEqual(rec["summary"].meta["chat_message_id"], "5")
        [listed] = store.compactions(hid)
        self.assertTrue(listed["in_effect"])
        self.assertEqual(listed["summary"], rec["summary"])
        got = store.retrieve_messages(hid, last_k=10)
        self.assertEqual(got[0], rec["summary"])
        self.assertEqual(len(store.retrieve_messages(hid, last_k=10, compacted=False)), 12)
        self.assertEqual([m.meta["chat_message_id"] for m in store.retrieve_messages(hid, max_tokens=60)], ["10", "11"])
        with self.assertRaises(ValueError):
            store.compact(hid, "5", SUMMARY)  # a dict, not a ChatMessage


if __name__ == "__main__":
    unittest.main()
