"""Expiry and erasure by metadata (issue 19) against the real servers: expiry over the
in-memory store (every backend with expiry does the same), erasure over SQLite."""

from __future__ import annotations

import datetime
import unittest

from chatstore_haystack import ChatstoreClient, ChatstoreInvalidRequestError, history_path
from support import assistant, memory_server_url, server_url, unique, user


def parse(t: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(t.replace("Z", "+00:00"))


class ExpiryTest(unittest.TestCase):
    def setUp(self):
        self.c = ChatstoreClient(memory_server_url(), max_retries=0)

    def test_ttl_fixed_time_and_clear(self):
        hid = unique("exp")
        self.c.write(hid, [user("a"), assistant("b")])
        info = self.c.info(hid)
        self.assertEqual((info["expires_at"], info["ttl_seconds"]), (None, None))

        before = datetime.datetime.now(datetime.timezone.utc)
        info = self.c.set_expiry(hid, ttl_seconds=3600)
        self.assertEqual((info["count"], info["ttl_seconds"]), (2, 3600))
        expires = parse(info["expires_at"])
        self.assertLess(abs((expires - before).total_seconds() - 3600), 60)
        self.assertEqual(self.c.info(hid)["expires_at"], info["expires_at"])

        at = datetime.datetime(2100, 1, 31, tzinfo=datetime.timezone.utc)
        info = self.c.set_expiry(hid, expires_at=at)
        self.assertEqual((info["expires_at"], info["ttl_seconds"]), ("2100-01-31T00:00:00.000Z", None))
        info = self.c.set_expiry(hid, expires_at="2100-02-01T12:00:00+02:00")
        self.assertEqual(info["expires_at"], "2100-02-01T10:00:00.000Z")

        info = self.c.set_expiry(hid, clear=True)
        self.assertEqual((info["expires_at"], info["ttl_seconds"]), (None, None))
        self.assertEqual(self.c.count(hid), 2)

    def test_a_time_past_expires_at_once(self):
        hid = unique("exp")
        self.c.write(hid, [user("a")])
        self.c.set_expiry(hid, expires_at="2000-01-01T00:00:00Z")
        self.assertEqual(self.c.count(hid), 0)
        self.assertEqual(self.c.retrieve(hid, last_k="all"), [])
        self.assertIsNone(self.c.info(hid)["created_at"])

    def test_refused(self):
        hid = unique("exp")
        for kwargs in [{}, {"ttl_seconds": 60, "clear": True}, {"ttl_seconds": 60, "expires_at": "2100-01-01T00:00:00Z"},
                       {"ttl_seconds": 0}, {"ttl_seconds": 1.5}, {"ttl_seconds": True},
                       {"expires_at": datetime.datetime(2100, 1, 1)}]:
            with self.assertRaises(ValueError, msg=kwargs):
                self.c.set_expiry(hid, **kwargs)
        with self.assertRaises(TypeError):
            self.c.set_expiry(hid, expires_at=12)
        for kwargs, member in [({"ttl_seconds": 10**10}, "ttl_seconds"), ({"expires_at": "tomorrow"}, "expires_at"),
                               ({"expires_at": "2300-01-01T00:00:00Z"}, "expires_at")]:
            with self.assertRaises(ChatstoreInvalidRequestError) as cm:
                self.c.set_expiry(hid, **kwargs)
            self.assertEqual((cm.exception.status, cm.exception.code), (400, "invalid_expiry"))
            self.assertIn(member, str(cm.exception))
        self.assertIsNone(self.c.info(hid)["created_at"])


class EraseTest(unittest.TestCase):
    def setUp(self):
        self.c = ChatstoreClient(server_url(), max_retries=0)

    def test_erase_by_metadata(self):
        person, other = unique("u"), unique("u")
        ids = [unique("erase") for _ in range(3)]
        for hid, who in zip(ids, [person, other, person]):
            self.c.write(hid, [user("a"), assistant("b")])
            # The client has no call for metadata yet: PATCH it as the API says.
            self.c._request("PATCH", history_path(hid), body={"metadata": {"user_id": who}})
        self.assertEqual(self.c.erase(metadata={"user_id": person}), {"histories": 2, "messages": 4})
        self.assertEqual([self.c.count(h) for h in ids], [0, 2, 0])
        self.assertEqual(self.c.erase(metadata={"user_id": person}), {"histories": 0, "messages": 0})
        self.assertEqual(self.c.erase(metadata={"user_id": other, "topic": "none"}), {"histories": 0, "messages": 0})
        self.assertEqual(self.c.count(ids[1]), 2)

    def test_erase_needs_pairs(self):
        for bad in [{}, None, "user_id=u-42"]:
            with self.assertRaises(ValueError):
                self.c.erase(metadata=bad)
        with self.assertRaises(TypeError):
            self.c.erase(metadata={"user_id": 42})
        with self.assertRaises(ChatstoreInvalidRequestError) as cm:
            self.c.erase(metadata={"": "x"})
        self.assertEqual(cm.exception.status, 400)


if __name__ == "__main__":
    unittest.main()
