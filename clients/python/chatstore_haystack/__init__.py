"""chatstore for Haystack: a ``ChatMessageStore`` over a chatstore server.

``ChatstoreChatMessageStore`` (the Haystack store) is imported on first use, so that
the HTTP client and the exceptions (standard library only) import without Haystack.
"""

from typing import TYPE_CHECKING, Any

from ._http import DEFAULT_URL, ChatstoreClient, History, HistoryPage, Retrieved, history_path
from .errors import (
    ChatstoreAuthError,
    ChatstoreError,
    ChatstoreInvalidRequestError,
    ChatstoreUnavailableError,
)

if TYPE_CHECKING:
    from .store import ChatstoreChatMessageStore

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_URL",
    "ChatstoreAuthError",
    "ChatstoreChatMessageStore",
    "ChatstoreClient",
    "ChatstoreError",
    "ChatstoreInvalidRequestError",
    "ChatstoreUnavailableError",
    "History",
    "HistoryPage",
    "Retrieved",
    "history_path",
]


def __getattr__(name: str) -> Any:
    if name == "ChatstoreChatMessageStore":
        try:
            from .store import ChatstoreChatMessageStore
        except ModuleNotFoundError as e:
            if e.name is not None and (e.name == "haystack" or e.name.startswith("haystack.")):
                raise ImportError(
                    "ChatstoreChatMessageStore needs Haystack: pip install haystack-ai "
                    "(ChatstoreClient works without it)"
                ) from e
            raise
        return ChatstoreChatMessageStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
