"""A client of the chatstore server's HTTP API (docs/SERVER.md), on plain dicts.

Standard library only (``urllib.request``): this module, and everything it imports,
work without Haystack, so that it can be tested on its own. Messages are dicts in
Haystack's ``ChatMessage.to_dict()`` format; the Haystack store
(:mod:`chatstore_haystack.store`) converts ``ChatMessage`` objects to and from them.

Retries: a request that got no answer (connection refused or reset, a timeout) or
an answer 502, 503 or 504 is sent again, up to ``max_retries`` more times, after a
pause of the answer's ``Retry-After`` when it has one (every 503 of the server does)
and otherwise of an exponential backoff with jitter (``backoff`` × 2ⁿ, capped at
``max_backoff``, between half of that and all of it). Any other answer, a 4xx in
particular, is never retried. A write is sent with one ``Idempotency-Key`` (a new
UUID per call) on every try, so a try that reached the server before its answer was
lost is not stored twice: the server answers its retry with the first answer.
"""

from __future__ import annotations

import datetime
import email.utils
import http.client
import json
import random
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from .errors import (
    ChatstoreAuthError,
    ChatstoreError,
    ChatstoreInvalidRequestError,
    ChatstoreUnavailableError,
)

__all__ = ["DEFAULT_URL", "ChatstoreClient", "History", "HistoryPage", "Retrieved", "history_path"]

#: The address ``chatstore serve`` listens on by default.
DEFAULT_URL = "http://127.0.0.1:8080"

_VERSION = "0.1.0"

# Answers that mean "not now": retried.
_RETRY_STATUSES = frozenset({502, 503, 504})
# Answers that mean "what you sent is wrong": ValueError.
_INVALID_STATUSES = frozenset({400, 413, 415, 422, 431})
_AUTH_STATUSES = frozenset({401, 403})

LastK = Union[int, str, None]


@dataclass(frozen=True)
class History:
    """One history of a listing: its id, how many messages it holds, and their tokens
    by the server's counter (``None`` from a store that cannot count them, or a server
    before token budgets). Two Histories are equal when their ids and counts are."""

    chat_history_id: str
    count: int
    tokens: Optional[int] = field(default=None, compare=False)


@dataclass(frozen=True)
class HistoryPage:
    """A page of ``GET /v1/histories``. ``next_cursor`` is ``None`` on the last page."""

    histories: List[History]
    next_cursor: Optional[str]


@dataclass(frozen=True)
class Retrieved:
    """What a read of the last rounds returned: ``messages``, oldest first, and
    ``window``, the server's description of them as the API writes it (a dict:
    ``tokens``, ``max_tokens``, ``rounds``, ``more``, ``exceeded``, ``pruned``,
    ``compaction`` and ``omitted``/``omitted_tokens``; docs/SERVER.md), or ``None``
    from a server before token budgets."""

    messages: List[Dict[str, Any]]
    window: Optional[Dict[str, Any]]


def history_path(chat_history_id: str, suffix: str = "") -> str:
    """The path of a history: its id percent-encoded as one path segment.

    Every byte but ASCII letters, digits and ``-._~`` is encoded (``session/1`` is
    ``session%2F1``), and the ids ``.`` and ``..`` are sent as ``%2E`` and ``%2E%2E``,
    which HTTP clients and proxies would otherwise remove as dot segments.
    """
    _check_history_id(chat_history_id)
    seg = urllib.parse.quote(chat_history_id, safe="")
    if chat_history_id in (".", ".."):
        seg = seg.replace(".", "%2E")
    return "/v1/histories/" + seg + suffix


def _check_history_id(chat_history_id: Any) -> None:
    if not isinstance(chat_history_id, str):
        raise TypeError(f"chat_history_id must be a string, got {type(chat_history_id).__name__}")
    if chat_history_id == "":
        raise ValueError("chat_history_id must not be empty")


def _last_k_param(last_k: LastK) -> Optional[str]:
    """``last_k`` as the query parameter: None (the server's default), "all", or N ≥ 0."""
    if last_k is None:
        return None
    if isinstance(last_k, str):
        if last_k.lower() == "all":
            return "all"
        raise ValueError(f'last_k must be a whole number ≥ 0, "all" or None, got {last_k!r}')
    if isinstance(last_k, bool) or not isinstance(last_k, int):
        raise TypeError(f"last_k must be an int or None, got {type(last_k).__name__}")
    if last_k < 0:
        # The words of haystack-experimental's InMemoryChatMessageStore.
        raise ValueError("last_k must be 0 or greater")
    return str(last_k)


def _check_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__}")


def _window_query(
    last_k: LastK, max_tokens: Optional[int], compacted: bool, prune_tool_results: bool
) -> Dict[str, str]:
    """The query of a read of the last rounds; what the options do is the server's."""
    query = {}
    param = _last_k_param(last_k)
    if param is not None:
        query["last_k"] = param
    if max_tokens is not None:
        _check_int("max_tokens", max_tokens)
        if max_tokens < 1:
            raise ValueError("max_tokens must be 1 or greater, or None for no budget")
        query["max_tokens"] = str(max_tokens)
    _check_bool("compacted", compacted)
    _check_bool("prune_tool_results", prune_tool_results)
    if not compacted:
        query["compacted"] = "false"
    if prune_tool_results:
        query["prune_tool_results"] = "true"
    return query


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """The server never redirects: a redirect is someone else's answer, and following
    it would turn a POST into a GET or send the token to another host."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D102, ANN001
        return None


def _retry_after(value: Optional[str]) -> Optional[float]:
    """A Retry-After header in seconds: delta-seconds or an HTTP date; None if absent or bad."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass
class _Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes


class ChatstoreClient:
    """The chatstore server's API (docs/SERVER.md) with messages as plain dicts.

    :param url: the server's address, ``http://HOST:PORT`` or ``https://…``, optionally
        with a path prefix under which a proxy serves the API.
    :param token: sent as ``Authorization: Bearer TOKEN`` when not ``None`` (a server
        started with ``--tokens-file`` needs one).
    :param timeout: seconds to wait on each socket operation of a try (connecting,
        sending, each read of the answer).
    :param max_retries: how many times a request is sent again after no answer or a
        502/503/504; 0 sends every request once.
    :param backoff: the first pause before a retry when the answer has no Retry-After;
        it doubles with each retry.
    :param max_backoff: the longest such pause.
    :param max_retry_after: the longest pause a Retry-After header may ask for.
    :param sleep: how to pause (``time.sleep``); tests pass a function that records
        the pauses instead.
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        token: Optional[str] = None,
        timeout: float = 10.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        max_retry_after: float = 60.0,
        sleep: Optional[Callable[[float], None]] = None,
    ) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.query or parsed.fragment:
            raise ValueError(f"the server URL must be http://HOST[:PORT][/PREFIX] or https://…, got {url!r}")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries must be an int ≥ 0, got {max_retries!r}")
        if timeout is not None and timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.url = url.rstrip("/")
        self._base = urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, parsed.path.rstrip("/"), "", ""))
        host = parsed.netloc.rsplit("@", 1)[-1]  # never show credentials in errors
        self._display = urllib.parse.urlunsplit((parsed.scheme, host, parsed.path.rstrip("/"), "", ""))
        self.token = token or None
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self._sleep = sleep if sleep is not None else time.sleep

    def __repr__(self) -> str:
        return f"ChatstoreClient({self._display!r})"

    # The API.

    def count(self, chat_history_id: str) -> int:
        """The number of messages of a history (0 for an unknown one)."""
        data = self._json("GET", history_path(chat_history_id))
        return int(data["count"])

    def write(
        self, chat_history_id: str, messages: Sequence[Mapping[str, Any]], *, idempotency_key: Optional[str] = None
    ) -> int:
        """Appends messages (dicts in ``ChatMessage.to_dict()`` format); returns how many
        were stored. The server skips system messages (unless its store URL says
        ``skip_system_messages=false``) and messages whose ``meta.chat_message_id``
        the history holds.

        Every try is sent with the same ``Idempotency-Key``: ``idempotency_key``, or a
        new UUID. Pass the key of a :class:`ChatstoreUnavailableError` to send a write
        whose outcome is unknown again without storing it twice.
        """
        return self.write_idempotent(chat_history_id, idempotency_key or str(uuid.uuid4()), messages)[0]

    def write_idempotent(
        self, chat_history_id: str, idempotency_key: str, messages: Sequence[Mapping[str, Any]]
    ) -> Tuple[int, bool]:
        """:meth:`write` with a given ``Idempotency-Key``; returns the number of messages
        stored and whether the answer was a replay of an earlier write with that key
        (the server stored nothing this time)."""
        if isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Sequence):
            raise TypeError("messages must be a list of message dicts")
        answer = self._request(
            "POST",
            history_path(chat_history_id, "/messages"),
            body={"messages": list(messages)},
            idempotency_key=idempotency_key,
        )
        data = self._decode(answer, "POST", history_path(chat_history_id, "/messages"))
        replayed = (answer.headers.get("Idempotent-Replayed") or "").lower() == "true"
        return int(data["messages_written"]), replayed

    def retrieve(
        self,
        chat_history_id: str,
        last_k: LastK = None,
        *,
        max_tokens: Optional[int] = None,
        compacted: bool = True,
        prune_tool_results: bool = False,
    ) -> List[Dict[str, Any]]:
        """The last ``last_k`` rounds of a history, oldest first (docs/STORE.md: a round
        ends with an assistant's answer, so a tool call comes with its results).
        ``None``: the server's default (its store URL's ``last_k``, 10 rounds unless
        set); ``"all"``: every message; 0: none.

        ``max_tokens``: only the newest whole rounds that fit this many tokens, by the
        server's counter. ``compacted``: with a compaction in effect (:meth:`compact`),
        its summary in place of the messages it stands for (the default), or those
        messages (False). ``prune_tool_results``: older large tool results replaced by
        Haystack's placeholder. :meth:`retrieve_window` also returns what was left out.
        """
        return self.retrieve_window(
            chat_history_id, last_k, max_tokens=max_tokens, compacted=compacted, prune_tool_results=prune_tool_results
        ).messages

    def retrieve_window(
        self,
        chat_history_id: str,
        last_k: LastK = None,
        *,
        max_tokens: Optional[int] = None,
        compacted: bool = True,
        prune_tool_results: bool = False,
    ) -> Retrieved:
        """:meth:`retrieve`, with the server's description of the window: its tokens,
        rounds, whether older rounds or part of the newest were left out, the tool
        results pruned and the compaction in effect (:class:`Retrieved`)."""
        query = _window_query(last_k, max_tokens, compacted, prune_tool_results)
        data = self._json("GET", history_path(chat_history_id, "/messages"), query=query)
        return Retrieved(messages=list(data["messages"]), window=data.get("window"))

    def compact(self, chat_history_id: str, through: str, summary: Mapping[str, Any]) -> Dict[str, Any]:
        """Records that ``summary`` (a message dict; Haystack's summarizing compactor makes
        a user message) stands, in reads of the last rounds, for the messages of the
        history up to and including the one whose ``chat_message_id`` is ``through``.
        The messages stay: :meth:`range` and ``compacted=False`` read them. Returns the
        record: ``through``, ``summary`` (marked with ``meta["context_compaction"]``,
        its id ``through``), ``tokens``, ``created_at`` and ``in_effect`` (False here:
        :meth:`compactions` says which is).

        A ``through`` the history does not hold is a :class:`ChatstoreError` with code
        ``message_not_found`` (404); a server whose store keeps no compactions answers
        ``not_supported`` (501). A try whose answer was lost is sent again, which may
        record the same summary twice: harmless, as equal records stand for the same.
        """
        if not isinstance(through, str) or through == "":
            raise ValueError("through must be the chat_message_id of a message of the history (a non-empty string)")
        if not isinstance(summary, Mapping):
            raise TypeError(f"summary must be a message dict, got {type(summary).__name__}")
        path = history_path(chat_history_id, "/compactions")
        answer = self._request("POST", path, body={"through": through, "summary": dict(summary)})
        return self._decode(answer, "POST", path)

    def compactions(self, chat_history_id: str) -> List[Dict[str, Any]]:
        """The history's compaction records (as :meth:`compact` returns them), newest
        first, the one that reads use with ``in_effect`` True."""
        return list(self._json("GET", history_path(chat_history_id, "/compactions"))["compactions"])

    def range(self, chat_history_id: str, offset: int = 0, limit: int = 100) -> List[Dict[str, Any]]:
        """Up to ``limit`` (1–1000) messages from position ``offset`` (0 is the first
        written), oldest first. A message keeps its position: histories only grow."""
        _check_int("offset", offset)
        _check_int("limit", limit)
        query = {"offset": str(offset), "limit": str(limit)}
        return list(self._json("GET", history_path(chat_history_id, "/messages"), query=query)["messages"])

    def iter_messages(self, chat_history_id: str, page_size: int = 1000) -> Iterator[Dict[str, Any]]:
        """Every message of a history, oldest first, read ``page_size`` at a time."""
        _check_int("page_size", page_size)
        offset = 0
        while True:
            page = self.range(chat_history_id, offset, page_size)
            yield from page
            if len(page) < page_size:
                return
            offset += len(page)

    def delete(self, chat_history_id: str) -> None:
        """Deletes a history (nothing happens for an unknown one)."""
        self._request("DELETE", history_path(chat_history_id))

    def delete_all(self) -> None:
        """Deletes every history the caller may see (with tokens: its tenant's)."""
        self._request("DELETE", "/v1/histories")

    def erase(self, *, metadata: Mapping[str, str]) -> Dict[str, int]:
        """Deletes every history the caller may see (with tokens: its tenant's) whose
        metadata holds every pair of ``metadata`` (``{"user_id": "u-42"}``: a person's
        data), with its messages, and returns how many were removed:
        ``{"histories": N, "messages": M}``. An erasure stopped part way (an error, a
        restart) has removed some; calling it again finishes the job. At least one pair
        is needed: it never deletes everything (:meth:`delete_all` does)."""
        if not isinstance(metadata, Mapping) or not metadata:
            raise ValueError("metadata must be a non-empty dict of the pairs to match, such as {'user_id': 'u-42'}")
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise TypeError(f"metadata keys and values must be strings, got {k!r}: {v!r}")
        query = {f"metadata[{k}]": v for k, v in metadata.items()}
        data = self._json("DELETE", "/v1/histories", query=query)
        erased = data["erased"]
        return {"histories": int(erased["histories"]), "messages": int(erased["messages"])}

    def info(self, chat_history_id: str) -> Dict[str, Any]:
        """A history as the server describes it: ``count``, ``tokens``, ``created_at``,
        ``updated_at``, ``expires_at`` (``None``: never), ``ttl_seconds`` (its own sliding
        time to live, ``None`` for none) and ``metadata``; times are RFC 3339 strings.
        An unknown history has count 0 and ``None`` times."""
        return self._json("GET", history_path(chat_history_id))

    def set_expiry(
        self,
        chat_history_id: str,
        *,
        ttl_seconds: Optional[int] = None,
        expires_at: Union[str, datetime.datetime, None] = None,
        clear: bool = False,
    ) -> Dict[str, Any]:
        """Sets when a history expires, with exactly one of: ``ttl_seconds``, a sliding
        time to live (whole seconds, 1 to 100 years): it expires that long after its last
        change, so an active history lives on; ``expires_at``, a fixed time (an aware
        ``datetime`` or an RFC 3339 string) that no change moves; ``clear=True``, no
        expiry of its own, so that the server's default (its tenant's or its store's)
        applies. An expired history is gone for every read. Returns the history as
        :meth:`info` does. A history that does not exist is created, empty."""
        given = (ttl_seconds is not None) + (expires_at is not None) + bool(clear)
        if given != 1:
            raise ValueError("give exactly one of ttl_seconds, expires_at and clear=True")
        body: Dict[str, Any]
        if ttl_seconds is not None:
            if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int) or ttl_seconds < 1:
                raise ValueError(f"ttl_seconds must be a whole number of seconds ≥ 1, got {ttl_seconds!r}")
            body = {"ttl_seconds": ttl_seconds}
        elif expires_at is not None:
            if isinstance(expires_at, datetime.datetime):
                if expires_at.tzinfo is None:
                    raise ValueError("expires_at must be an aware datetime (with a tzinfo), or an RFC 3339 string")
                expires_at = expires_at.isoformat()
            if not isinstance(expires_at, str):
                raise TypeError(f"expires_at must be a datetime or an RFC 3339 string, got {type(expires_at).__name__}")
            body = {"expires_at": expires_at}
        else:
            body = {"ttl_seconds": None}
        path = history_path(chat_history_id)
        return self._decode(self._request("PATCH", path, body=body), "PATCH", path)

    def list_histories(
        self, *, limit: Optional[int] = None, cursor: Optional[str] = None, prefix: Optional[str] = None
    ) -> HistoryPage:
        """One page of histories in byte order of their ids, with their message counts.
        ``limit``: 1–1000 (the server's default is 100); ``cursor``: the previous page's
        ``next_cursor``; ``prefix``: only ids that start with it."""
        query: Dict[str, str] = {}
        if limit is not None:
            _check_int("limit", limit)
            query["limit"] = str(limit)
        if cursor is not None:
            query["cursor"] = cursor
        if prefix is not None:
            query["prefix"] = prefix
        data = self._json("GET", "/v1/histories", query=query)
        return HistoryPage(
            histories=[History(h["chat_history_id"], int(h["count"]), h.get("tokens")) for h in data["histories"]],
            next_cursor=data.get("next_cursor"),
        )

    def iter_histories(self, *, prefix: Optional[str] = None, page_size: int = 100) -> Iterator[History]:
        """Every history (that starts with ``prefix``), page by page."""
        cursor = None
        while True:
            page = self.list_histories(limit=page_size, cursor=cursor, prefix=prefix)
            yield from page.histories
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    # The machinery.

    def _json(self, method: str, path: str, *, query: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
        answer = self._request(method, path, query=query)
        return self._decode(answer, method, path)

    def _decode(self, answer: _Answer, method: str, path: str) -> Dict[str, Any]:
        try:
            data = json.loads(answer.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise ChatstoreError(
                f"the answer is not the API's JSON: {e}", status=answer.status, code="invalid_answer",
                method=method, path=path,
            ) from e
        if not isinstance(data, dict):
            raise ChatstoreError(
                "the answer is not a JSON object", status=answer.status, code="invalid_answer", method=method, path=path
            )
        return data

    def _delay(self, retry: int, retry_after: Optional[float]) -> float:
        """The pause before retry number ``retry`` (0 for the first)."""
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        ceiling = min(self.max_backoff, self.backoff * (2**retry))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def _request(
        self,
        method: str,
        path: str,
        *,
        query: Optional[Mapping[str, str]] = None,
        body: Any = None,
        idempotency_key: Optional[str] = None,
    ) -> _Answer:
        """Sends a request, retrying as the module says, and returns a 2xx answer or raises."""
        shown = path + ("?" + urllib.parse.urlencode(query) if query else "")
        url = self._base + shown
        data = None
        headers = {
            "Accept": "application/json",
            "User-Agent": f"chatstore-haystack/{_VERSION}",
        }
        if body is not None:
            # Encoded once: every try sends the same bytes, as an Idempotency-Key requires.
            data = json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if self.token is not None:
            headers["Authorization"] = "Bearer " + self.token
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        opener = urllib.request.build_opener(_NoRedirect)

        outcome_unknown = False  # a try of this write may have been stored
        attempt = 0
        while True:
            attempt += 1
            last_try = attempt > self.max_retries
            req = urllib.request.Request(url, data=data, headers=headers, method=method)
            retry_after: Optional[float] = None
            try:
                with opener.open(req, timeout=self.timeout) as resp:
                    answer = _Answer(resp.status, resp.headers, resp.read())
            except urllib.error.HTTPError as e:
                try:
                    content = e.read()
                except (OSError, http.client.HTTPException):
                    content = b""
                finally:
                    e.close()
                answer = _Answer(e.code, e.headers, content)
            except urllib.error.URLError as e:
                # Raised while connecting or sending: the request was not (wholly) received.
                reason = e.reason
                if isinstance(reason, ssl.SSLCertVerificationError) or not isinstance(reason, OSError):
                    raise ChatstoreError(
                        f"cannot reach the chatstore server at {self._display}: {reason}",
                        code="unreachable", method=method, path=shown,
                    ) from e
                if last_try:
                    raise self._unreachable(method, shown, reason, attempt, idempotency_key, outcome_unknown) from e
                self._sleep(self._delay(attempt - 1, None))
                continue
            except (OSError, http.client.HTTPException) as e:
                # Raised while waiting for or reading the answer: the server may have
                # received the request, and a write may have been stored.
                if data is not None:
                    outcome_unknown = True
                if last_try:
                    raise self._unreachable(method, shown, e, attempt, idempotency_key, outcome_unknown) from e
                self._sleep(self._delay(attempt - 1, None))
                continue

            if 200 <= answer.status < 300:
                return answer
            code, message = self._error_body(answer)
            if answer.status in _RETRY_STATUSES:
                if data is not None and (code == "outcome_unknown" or answer.status != 503):
                    outcome_unknown = True
                if not last_try:
                    retry_after = _retry_after(answer.headers.get("Retry-After"))
                    self._sleep(self._delay(attempt - 1, retry_after))
                    continue
                raise ChatstoreUnavailableError(
                    f"{message} (tried {attempt} times)" if attempt > 1 else message,
                    status=answer.status, code=code, method=method, path=shown, attempts=attempt,
                    idempotency_key=idempotency_key, outcome_unknown=outcome_unknown,
                )
            kind = ChatstoreError
            if answer.status in _INVALID_STATUSES:
                kind = ChatstoreInvalidRequestError
            elif answer.status in _AUTH_STATUSES:
                kind = ChatstoreAuthError
            raise kind(message, status=answer.status, code=code, method=method, path=shown)

    def _unreachable(
        self,
        method: str,
        path: str,
        err: BaseException,
        attempts: int,
        idempotency_key: Optional[str],
        outcome_unknown: bool,
    ) -> ChatstoreUnavailableError:
        what = str(err) or type(err).__name__
        if isinstance(err, (socket.timeout, TimeoutError)):
            what = f"no answer within {self.timeout} s"
        msg = f"cannot reach the chatstore server at {self._display}: {what}"
        if attempts > 1:
            msg += f" (tried {attempts} times)"
        if outcome_unknown:
            msg += "; the write may have been stored: send it again with its idempotency_key"
        return ChatstoreUnavailableError(
            msg, code="unreachable", method=method, path=path, attempts=attempts,
            idempotency_key=idempotency_key, outcome_unknown=outcome_unknown,
        )

    @staticmethod
    def _error_body(answer: _Answer) -> Tuple[str, str]:
        """The server's ``{"error":{"code":…,"message":…}}``, or what can be said without it."""
        try:
            err = json.loads(answer.body.decode("utf-8"))["error"]
            code, message = err["code"], err["message"]
            if isinstance(code, str) and isinstance(message, str) and code:
                return code, message
        except (UnicodeDecodeError, ValueError, KeyError, TypeError):
            pass
        text = answer.body.decode("utf-8", "replace").strip()
        if len(text) > 200:
            text = text[:200] + "…"
        reason = http.client.responses.get(answer.status, "")
        return f"http_{answer.status}", text or reason or f"HTTP {answer.status}"
