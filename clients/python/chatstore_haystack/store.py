"""``ChatstoreChatMessageStore``: haystack-experimental's ``ChatMessageStore`` protocol
over a chatstore server.

This is the only module that imports Haystack. It is thin on purpose: it converts
``ChatMessage`` objects with ``to_dict()`` / ``ChatMessage.from_dict()`` and hands
dicts to :class:`chatstore_haystack.ChatstoreClient`, which does the HTTP.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any, Dict, Iterator, List, Optional, Union

from haystack import default_from_dict, default_to_dict
from haystack.dataclasses import ChatMessage
from haystack.utils import Secret, deserialize_secrets_inplace

from ._http import DEFAULT_URL, ChatstoreClient, History, HistoryPage

__all__ = ["ChatstoreChatMessageStore"]

# The short name a pipeline file may use for the class; to_dict writes the full one.
_SHORT_TYPE = "chatstore_haystack.ChatstoreChatMessageStore"


class ChatstoreChatMessageStore:
    """Stores chat messages in a chatstore server (``chatstore serve``).

    It implements haystack-experimental's ``ChatMessageStore`` protocol, so it goes
    wherever ``InMemoryChatMessageStore`` does: ``ChatMessageWriter``,
    ``ChatMessageRetriever``, the experimental ``Agent(chat_message_store=...)``, and
    pipeline files. The history lives in the server, where a Go service, another
    process or the server's web page can read it.

    The store rules are the server's, applied once, there (docs/STORE.md): system
    messages are not stored unless the server's store URL says
    ``skip_system_messages=false``; a message whose ``meta["chat_message_id"]`` the
    history holds is skipped, so writing retrieved messages back writes nothing;
    messages without an id get ``"0"``, ``"1"``, … as in Haystack; ``last_k`` counts
    rounds, as ``InMemoryChatMessageStore`` does.

    ```python
    from haystack.dataclasses import ChatMessage
    from chatstore_haystack import ChatstoreChatMessageStore

    store = ChatstoreChatMessageStore(url="http://127.0.0.1:8080")
    store.write_messages("session-42", [ChatMessage.from_user("Hi!"), ChatMessage.from_assistant("Hello!")])
    store.retrieve_messages("session-42", last_k=1)
    ```
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        token: Optional[Secret] = Secret.from_env_var("CHATSTORE_TOKEN", strict=False),
        timeout: float = 10.0,
        max_retries: int = 3,
    ) -> None:
        """
        :param url: the server's address (``chatstore serve`` listens on
            ``http://127.0.0.1:8080`` by default).
        :param token: the bearer token of a server started with ``--tokens-file``;
            by default the ``CHATSTORE_TOKEN`` environment variable, and no token when
            it is unset. ``None``: never send one.
        :param timeout: seconds to wait on each socket operation of a request.
        :param max_retries: how many times a request that got no answer, or a
            502/503/504, is sent again (with backoff, honouring ``Retry-After``).
        """
        if isinstance(token, str):
            raise TypeError(
                "token must be a Haystack Secret (Secret.from_env_var(...) or Secret.from_token(...)), not a string"
            )
        self.url = url
        self.token = token
        self.timeout = timeout
        self.max_retries = max_retries
        self._client = ChatstoreClient(
            url,
            token=token.resolve_value() if token is not None else None,
            timeout=timeout,
            max_retries=max_retries,
        )

    def __repr__(self) -> str:
        return f"ChatstoreChatMessageStore(url={self.url!r})"

    @property
    def client(self) -> ChatstoreClient:
        """The HTTP client underneath, for calls on plain dicts."""
        return self._client

    def to_dict(self) -> Dict[str, Any]:
        """
        Serializes the store to a dictionary.

        :returns: ``{"type": "chatstore_haystack.store.ChatstoreChatMessageStore",
            "init_parameters": {"url": ..., "token": <the Secret's to_dict()>, "timeout": ...,
            "max_retries": ...}}``.
        """
        return default_to_dict(
            self,
            url=self.url,
            token=self.token.to_dict() if self.token is not None else None,
            timeout=self.timeout,
            max_retries=self.max_retries,
        )

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "ChatstoreChatMessageStore":
        """
        Deserializes the store from a dictionary, as written by :meth:`to_dict`.
        ``"type"`` may also be the short ``chatstore_haystack.ChatstoreChatMessageStore``.

        :param data: the dictionary to deserialize from.
        :returns: the store.
        """
        data = dict(data)  # never change the caller's dictionary
        if data.get("type") == _SHORT_TYPE:
            data["type"] = f"{cls.__module__}.{cls.__name__}"
        init_params = dict(data.get("init_parameters") or {})
        deserialize_secrets_inplace(init_params, keys=["token"])
        data["init_parameters"] = init_params
        return default_from_dict(cls, data)

    def count_messages(self, chat_history_id: str) -> int:
        """
        Returns the number of messages stored in a history.

        :param chat_history_id: the chat history id.
        :returns: the number of messages (0 for an unknown history).
        """
        return self._client.count(chat_history_id)

    def write_messages(self, chat_history_id: str, messages: List[ChatMessage]) -> int:
        """
        Writes chat messages to a history.

        :param chat_history_id: the chat history id.
        :param messages: a list of ChatMessages.
        :returns: the number of messages written: system messages (unless the server
            keeps them) and messages whose id the history holds are not.
        :raises ValueError: if messages is not a list of ChatMessages, or the server
            refused one (its message says which and why).
        """
        if isinstance(messages, (str, bytes, dict)) or not isinstance(messages, Iterable):
            raise ValueError("Please provide a list of ChatMessages.")
        messages = list(messages)
        if any(not isinstance(m, ChatMessage) for m in messages):
            raise ValueError("Please provide a list of ChatMessages.")
        return self._client.write(chat_history_id, [m.to_dict() for m in messages])

    def retrieve_messages(
        self,
        chat_history_id: str,
        last_k: Optional[int] = None,
        *,
        max_tokens: Optional[int] = None,
        compacted: bool = True,
        prune_tool_results: bool = False,
    ) -> List[ChatMessage]:
        """
        Retrieves the last ``last_k`` rounds of a history, oldest first.

        :param chat_history_id: the chat history id.
        :param last_k: how many rounds (a user's messages up to the assistant's answer,
            with any tool calls and results between). ``None``: the server's default,
            which is 10 rounds as ``InMemoryChatMessageStore``'s unless its store URL
            sets ``last_k`` (``last_k=all``: every message). 0: none.
        :param max_tokens: only the newest whole rounds that fit this many tokens, by
            the server's counter; ``None``: no budget.
        :param compacted: with a compaction in effect (:meth:`compact`), its summary in
            place of the messages it stands for; False: those messages.
        :param prune_tool_results: replace older large tool results with Haystack's
            placeholder, as its ToolResultPruningCompactor does.
        :returns: the messages, each with ``meta["chat_message_id"]``.
        :raises ValueError: if last_k is less than 0 or max_tokens less than 1.
        """
        found = self._client.retrieve(
            chat_history_id, last_k, max_tokens=max_tokens, compacted=compacted, prune_tool_results=prune_tool_results
        )
        return [ChatMessage.from_dict(d) for d in found]

    def delete_messages(self, chat_history_id: str) -> None:
        """
        Deletes a history.

        :param chat_history_id: the chat history id.
        """
        self._client.delete(chat_history_id)

    def delete_all_messages(self) -> None:
        """
        Deletes every history the caller may see: on a server with tokens, every
        history of the token's tenant; without, every history of the server.
        """
        self._client.delete_all()

    # Beyond the protocol.

    def compact(self, chat_history_id: str, through: str, summary: ChatMessage) -> Dict[str, Any]:
        """
        Records that ``summary`` stands, in :meth:`retrieve_messages`, for the messages
        up to and including the one whose ``chat_message_id`` is ``through``: what
        Haystack's SummarizationCompactor makes, kept by the server
        (:meth:`ChatstoreClient.compact`).

        :returns: the record: ``through``, ``summary`` (a ChatMessage), ``tokens``,
            ``created_at`` and ``in_effect``.
        """
        if not isinstance(summary, ChatMessage):
            raise ValueError("Please provide the summary as a ChatMessage.")
        return _with_message(self._client.compact(chat_history_id, through, summary.to_dict()))

    def compactions(self, chat_history_id: str) -> List[Dict[str, Any]]:
        """The history's compaction records, newest first, as :meth:`compact` returns
        them; ``in_effect`` marks the one :meth:`retrieve_messages` uses."""
        return [_with_message(r) for r in self._client.compactions(chat_history_id)]

    def set_expiry(
        self,
        chat_history_id: str,
        *,
        ttl_seconds: Optional[int] = None,
        expires_at: Union[str, datetime.datetime, None] = None,
        clear: bool = False,
    ) -> Dict[str, Any]:
        """
        Sets when a history expires (:meth:`ChatstoreClient.set_expiry`): a sliding
        ``ttl_seconds``, a fixed ``expires_at``, or ``clear=True`` for the server's
        default. An expired history is gone for every read.

        :returns: the history: ``count``, ``created_at``, ``updated_at``, ``expires_at``,
            ``ttl_seconds``, ``metadata``, …
        """
        return self._client.set_expiry(chat_history_id, ttl_seconds=ttl_seconds, expires_at=expires_at, clear=clear)

    def erase(self, metadata: Dict[str, str]) -> Dict[str, int]:
        """
        Deletes every history whose metadata holds every pair of ``metadata``
        (:meth:`ChatstoreClient.erase`): a person's data, by a key such as ``user_id``.

        :returns: ``{"histories": N, "messages": M}``, what was removed.
        """
        return self._client.erase(metadata=metadata)

    def list_histories(
        self, limit: Optional[int] = None, cursor: Optional[str] = None, prefix: Optional[str] = None
    ) -> HistoryPage:
        """
        One page of histories, in byte order of their ids, with their message counts.

        :param limit: 1–1000; the server's default is 100.
        :param cursor: the ``next_cursor`` of the previous page.
        :param prefix: only histories whose id starts with it.
        :returns: a ``HistoryPage``: ``histories`` (``History(chat_history_id, count)``)
            and ``next_cursor`` (``None`` on the last page).
        """
        return self._client.list_histories(limit=limit, cursor=cursor, prefix=prefix)

    def iter_histories(self, prefix: Optional[str] = None, page_size: int = 100) -> Iterator[History]:
        """Every history (whose id starts with ``prefix``), reading ``page_size`` at a time."""
        return self._client.iter_histories(prefix=prefix, page_size=page_size)

    def retrieve_range(self, chat_history_id: str, offset: int = 0, limit: int = 100) -> List[ChatMessage]:
        """
        Up to ``limit`` (1–1000) messages from position ``offset`` on (0 is the first
        written), oldest first: to page through a history in order.
        """
        return [ChatMessage.from_dict(d) for d in self._client.range(chat_history_id, offset, limit)]

    def iter_messages(self, chat_history_id: str, page_size: int = 1000) -> Iterator[ChatMessage]:
        """Every message of a history, oldest first, reading ``page_size`` at a time."""
        for d in self._client.iter_messages(chat_history_id, page_size):
            yield ChatMessage.from_dict(d)


def _with_message(record: Dict[str, Any]) -> Dict[str, Any]:
    """A compaction record with its summary as a ChatMessage."""
    return {**record, "summary": ChatMessage.from_dict(record["summary"])}
