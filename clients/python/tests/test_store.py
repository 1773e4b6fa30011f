"""The Haystack store, ChatstoreChatMessageStore, against the real server.

With Haystack installed these run on Haystack's own ChatMessage, Secret and
serialization; without it (CI), on the stand-in in tests/standin, which keeps only
what the store uses, as Haystack does it. Which one ran is printed once."""

from __future__ import annotations

import copy
import inspect
import os
import sys
import unittest
from unittest import mock

from support import (
    TOKEN,
    TOKEN_SERVER_URL,
    assistant,
    assistant_calls,
    haystack_modules,
    need,
    server_url,
    system,
    tool_call,
    tool_result,
    unique,
    user,
    with_id,
)

haystack, STANDIN = haystack_modules()
from haystack import DeserializationError  # noqa: E402
from haystack.dataclasses import ChatMessage  # noqa: E402
from haystack.utils import Secret  # noqa: E402

from chatstore_haystack import ChatstoreAuthError, ChatstoreChatMessageStore, HistoryPage  # noqa: E402

TYPE = "chatstore_haystack.store.ChatstoreChatMessageStore"
DEFAULT_TOKEN = {"type": "env_var", "env_vars": ["CHATSTORE_TOKEN"], "strict": False}


def setUpModule():
    which = "a STAND-IN for Haystack (tests/standin)" if STANDIN else f"Haystack from {os.path.dirname(haystack.__file__)}"
    print(f"\ntest_store: ChatMessage, Secret and serialization from {which}", file=sys.stderr)


def msgs(*dicts):
    return [ChatMessage.from_dict(d) for d in dicts]


def dicts(messages):
    return [m.to_dict() for m in messages]


class StoreTest(unittest.TestCase):
    def setUp(self):
        env = mock.patch.dict(os.environ)
        env.start()
        self.addCleanup(env.stop)
        os.environ.pop("CHATSTORE_TOKEN", None)
        self.url = server_url()
        self.store = ChatstoreChatMessageStore(url=self.url)

    def test_to_dict(self):
        self.assertEqual(
            self.store.to_dict(),
            {
                "type": TYPE,
                "init_parameters": {"url": self.url, "token": DEFAULT_TOKEN, "timeout": 10.0, "max_retries": 3},
            },
        )
        s = ChatstoreChatMessageStore(url="http://chat:9000", token=None, timeout=2.5, max_retries=0)
        self.assertEqual(
            s.to_dict(),
            {
                "type": TYPE,
                "init_parameters": {"url": "http://chat:9000", "token": None, "timeout": 2.5, "max_retries": 0},
            },
        )
        os.environ["MY_TOKEN"] = "t"
        s = ChatstoreChatMessageStore(token=Secret.from_env_var(["MY_TOKEN", "OTHER"]))
        self.assertEqual(
            s.to_dict()["init_parameters"]["token"], {"type": "env_var", "env_vars": ["MY_TOKEN", "OTHER"], "strict": True}
        )
        self.assertEqual(s.to_dict()["init_parameters"]["url"], "http://127.0.0.1:8080")

    def test_from_dict(self):
        data = {
            "type": TYPE,
            "init_parameters": {"url": "http://chat:9000", "token": DEFAULT_TOKEN, "timeout": 3.0, "max_retries": 1},
        }
        before = copy.deepcopy(data)
        s = ChatstoreChatMessageStore.from_dict(data)
        self.assertEqual(data, before)  # not changed
        self.assertEqual(s.to_dict(), data)
        self.assertEqual((s.url, s.timeout, s.max_retries), ("http://chat:9000", 3.0, 1))
        self.assertEqual(s.token, Secret.from_env_var("CHATSTORE_TOKEN", strict=False))
        # The short name of the class is accepted too; to_dict writes the full one.
        s = ChatstoreChatMessageStore.from_dict(
            {"type": "chatstore_haystack.ChatstoreChatMessageStore", "init_parameters": {"url": self.url}}
        )
        self.assertEqual(s.to_dict(), self.store.to_dict())
        with self.assertRaises(DeserializationError):
            ChatstoreChatMessageStore.from_dict(
                {"type": "haystack_experimental.chat_message_stores.in_memory.InMemoryChatMessageStore", "init_parameters": {}}
            )

    def test_the_import_path_in_to_dict_finds_the_class(self):
        import importlib

        module, name = TYPE.rsplit(".", 1)
        self.assertIs(getattr(importlib.import_module(module), name), ChatstoreChatMessageStore)
        import chatstore_haystack

        self.assertIs(chatstore_haystack.ChatstoreChatMessageStore, ChatstoreChatMessageStore)

    def test_signatures_match_the_protocol(self):
        # haystack_experimental/chat_message_stores/types.py, ChatMessageStore.
        expected = {
            "count_messages": ["chat_history_id"],
            "write_messages": ["chat_history_id", "messages"],
            "delete_messages": ["chat_history_id"],
            "delete_all_messages": [],
            "retrieve_messages": ["chat_history_id", "last_k"],
            "to_dict": [],
        }
        for name, params in expected.items():
            with self.subTest(method=name):
                sig = inspect.signature(getattr(ChatstoreChatMessageStore, name))
                # The protocol's parameters, then only keyword-only ones with
                # defaults (retrieve_messages's budget), which no caller of the
                # protocol passes.
                ps = list(sig.parameters.values())[1:]
                self.assertEqual([p.name for p in ps if p.kind != p.KEYWORD_ONLY], params)
                for p in ps:
                    if p.kind == p.KEYWORD_ONLY:
                        self.assertIsNot(p.default, p.empty, p.name)
        self.assertIs(inspect.signature(ChatstoreChatMessageStore.retrieve_messages).parameters["last_k"].default, None)
        self.assertIsInstance(inspect.getattr_static(ChatstoreChatMessageStore, "from_dict"), classmethod)

    def test_token_must_be_a_secret(self):
        with self.assertRaisesRegex(TypeError, "Secret"):
            ChatstoreChatMessageStore(token="a-plain-string-token")

    def test_token_from_the_environment(self):
        url = need(TOKEN_SERVER_URL, "CHATSTORE_TEST_TOKEN_SERVER_URL")
        hid = unique()
        with self.assertRaises(ChatstoreAuthError):
            ChatstoreChatMessageStore(url=url).count_messages(hid)
        os.environ["CHATSTORE_TOKEN"] = need(TOKEN, "CHATSTORE_TEST_TOKEN")
        s = ChatstoreChatMessageStore(url=url)
        self.assertEqual(s.write_messages(hid, msgs(user("hi"))), 1)
        self.assertEqual(s.count_messages(hid), 1)
        # The token itself never lands in the dictionary.
        self.assertNotIn(TOKEN, repr(s.to_dict()))
        self.assertNotIn(TOKEN, repr(s))

    def test_protocol_round_trip(self):
        hid = unique()
        call = tool_call("get_weather", {"city": "Paris"}, "call_1")
        written = msgs(
            system("You are helpful."),
            user("Weather in Paris?"),
            assistant_calls(call),
            tool_result("22 °C, sunny", call),
            assistant("It's 22 °C and sunny."),
        )
        self.assertEqual(self.store.count_messages(hid), 0)
        self.assertEqual(self.store.retrieve_messages(hid), [])
        n = self.store.write_messages(chat_history_id=hid, messages=written)
        self.assertIs(type(n), int)
        self.assertEqual(n, 4)  # the system message is not stored (the server's skip_system_messages)
        self.assertEqual(self.store.count_messages(chat_history_id=hid), 4)
        got = self.store.retrieve_messages(chat_history_id=hid)
        self.assertIsInstance(got, list)
        self.assertTrue(all(isinstance(m, ChatMessage) for m in got))
        self.assertEqual([m.meta["chat_message_id"] for m in got], ["0", "1", "2", "3"])
        expected = [with_id(d, str(i)) for i, d in enumerate(dicts(written[1:]))]
        self.assertEqual(dicts(got), expected)
        self.assertEqual(got, msgs(*expected))
        # What an Agent does: write the whole conversation, retrieved messages included.
        self.assertEqual(self.store.write_messages(hid, got + msgs(user("Thanks!"), assistant("You're welcome."))), 2)
        self.assertEqual(self.store.count_messages(hid), 6)
        self.assertIsNone(self.store.delete_messages(hid))
        self.assertEqual(self.store.count_messages(hid), 0)

    def test_last_k(self):
        hid = unique()
        self.store.write_messages(hid, msgs(user("a"), assistant("A"), user("b"), assistant("B")))
        self.assertEqual([m.meta["chat_message_id"] for m in self.store.retrieve_messages(hid, last_k=1)], ["2", "3"])
        self.assertEqual(len(self.store.retrieve_messages(hid, last_k=2)), 4)
        self.assertEqual(len(self.store.retrieve_messages(hid, last_k=None)), 4)
        self.assertEqual(self.store.retrieve_messages(hid, last_k=0), [])
        with self.assertRaisesRegex(ValueError, "last_k must be 0 or greater"):
            self.store.retrieve_messages(hid, last_k=-1)

    def test_write_refuses_what_is_not_a_list_of_messages(self):
        hid = unique()
        for bad in (user("a dict"), "text", [user("a dict")], [ChatMessage.from_dict(user("ok")), "text"], None):
            with self.subTest(bad=bad), self.assertRaisesRegex(ValueError, "Please provide a list of ChatMessages"):
                self.store.write_messages(hid, bad)
        self.assertEqual(self.store.count_messages(hid), 0)
        self.assertEqual(self.store.write_messages(hid, []), 0)
        self.assertEqual(self.store.write_messages(hid, (m for m in msgs(user("gen")))), 1)

    def test_invalid_message_is_a_value_error_with_the_servers_message(self):
        hid = unique()
        # Haystack builds it; chatstore refuses a message id that is not a string.
        bad = ChatMessage.from_dict({"role": "user", "meta": {"chat_message_id": 7}, "name": None, "content": [{"text": "x"}]})
        with self.assertRaises(ValueError) as cm:
            self.store.write_messages(hid, msgs(user("fine")) + [bad])
        self.assertIn("messages[1].meta.chat_message_id", str(cm.exception))
        self.assertEqual(self.store.count_messages(hid), 0)

    def test_delete_all_messages(self):
        a, b = unique(), unique()
        self.store.write_messages(a, msgs(user("a")))
        self.store.write_messages(b, msgs(user("b")))
        self.assertIsNone(self.store.delete_all_messages())
        self.assertEqual((self.store.count_messages(a), self.store.count_messages(b)), (0, 0))

    def test_beyond_the_protocol(self):
        prefix = unique("extra") + "-"
        for i in range(3):
            self.store.write_messages(f"{prefix}{i}", msgs(*[user(str(j)) for j in range(i + 1)]))
        page = self.store.list_histories(limit=2, prefix=prefix)
        self.assertIsInstance(page, HistoryPage)
        self.assertEqual([(h.chat_history_id, h.count) for h in page.histories], [(prefix + "0", 1), (prefix + "1", 2)])
        rest = self.store.list_histories(limit=2, prefix=prefix, cursor=page.next_cursor)
        self.assertEqual([h.chat_history_id for h in rest.histories], [prefix + "2"])
        self.assertEqual([h.count for h in self.store.iter_histories(prefix=prefix, page_size=1)], [1, 2, 3])
        r = self.store.retrieve_range(prefix + "2", offset=1, limit=5)
        self.assertEqual([m.meta["chat_message_id"] for m in r], ["1", "2"])
        self.assertTrue(all(isinstance(m, ChatMessage) for m in r))
        self.assertEqual(list(self.store.iter_messages(prefix + "2", page_size=2)), self.store.retrieve_range(prefix + "2"))

    def test_copies(self):
        hid = unique()
        c = copy.deepcopy(self.store)
        self.assertEqual(c.to_dict(), self.store.to_dict())
        self.assertEqual(c.write_messages(hid, msgs(user("x"))), 1)
        self.assertEqual(self.store.count_messages(hid), 1)


if __name__ == "__main__":
    unittest.main()
