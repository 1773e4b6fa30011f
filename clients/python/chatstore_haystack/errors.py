"""Exceptions raised by chatstore_haystack. They need nothing but the standard library.

Every error is a :class:`ChatstoreError` and also the built-in exception a Python
caller would expect, so ``except ValueError`` around a Haystack store call works as
it does with ``InMemoryChatMessageStore``:

====================================  ====================  ===============================
exception                             also a                raised for
====================================  ====================  ===============================
:class:`ChatstoreInvalidRequestError`  ``ValueError``        400, 413, 415, 422, 431: what was
                                                            sent was refused (the server's
                                                            message says what and where)
:class:`ChatstoreAuthError`           ``PermissionError``   401 (no token, or an unknown
                                                            one), 403 (a read-only token on
                                                            a write, a refused host)
:class:`ChatstoreUnavailableError`    ``ConnectionError``   the server could not be reached,
                                                            or answered 502/503/504, on
                                                            every try
:class:`ChatstoreError`               —                     anything else: 404, 405, 500,
                                                            501, a 3xx, an answer that is
                                                            not the API's JSON
====================================  ====================  ===============================
"""

from __future__ import annotations

from typing import Optional


class ChatstoreError(Exception):
    """An error of the chatstore server or of the way to it.

    :ivar status: the HTTP status of the answer, or ``None`` when there was none.
    :ivar code: the server's error code (``"invalid_message"``, ``"unauthorized"``, …),
        ``"http_<status>"`` for an answer without the API's error body, or
        ``"unreachable"`` when no answer came.
    :ivar message: the server's message (what was wrong and where), or a description
        of the failure.
    :ivar method: the HTTP method of the request.
    :ivar path: the request's path (with its query), without the server's address.
    """

    def __init__(
        self,
        message: str,
        *,
        status: Optional[int] = None,
        code: str = "",
        method: str = "",
        path: str = "",
    ) -> None:
        self.message = message
        self.status = status
        self.code = code
        self.method = method
        self.path = path
        super().__init__(message)

    def __str__(self) -> str:
        where = f"{self.method} {self.path}".strip()
        if self.status is None:
            return f"{self.message} ({where})" if where else self.message
        detail = f"{self.status} {self.code}".strip()
        return f"{self.message} ({detail} from {where})" if where else f"{self.message} ({detail})"


class ChatstoreInvalidRequestError(ChatstoreError, ValueError):
    """The server refused what was sent (400, 413, 415, 422, 431). Never retried."""


class ChatstoreAuthError(ChatstoreError, PermissionError):
    """The server refused the caller: 401 (missing or unknown token) or 403. Never retried."""


class ChatstoreUnavailableError(ChatstoreError, ConnectionError):
    """The server could not be reached, or was unavailable (502, 503, 504), on every try.

    :ivar outcome_unknown: for a write, whether it may have been stored anyway (a try
        failed after the request may have reached the server). Sending it again with
        the same :attr:`idempotency_key` (``ChatstoreClient.write(...,
        idempotency_key=err.idempotency_key)``) stores it exactly once.
    :ivar idempotency_key: for a write, the ``Idempotency-Key`` every try was sent with.
    :ivar attempts: how many tries were made.
    """

    def __init__(
        self,
        message: str,
        *,
        status: Optional[int] = None,
        code: str = "",
        method: str = "",
        path: str = "",
        attempts: int = 1,
        idempotency_key: Optional[str] = None,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(message, status=status, code=code, method=method, path=path)
        self.attempts = attempts
        self.idempotency_key = idempotency_key
        self.outcome_unknown = outcome_unknown
