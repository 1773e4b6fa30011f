"""STAND-IN for haystack.dataclasses (ChatMessage), for tests only: see ../README.md. Not Haystack.

It carries a message's dict unchanged; the real ChatMessage parses it into content
parts, and its to_dict() writes every field (e.g. "extra": null in a tool call).
"""

import copy
from typing import Any, Dict


class ChatMessage:
    def __init__(self, data: Dict[str, Any]) -> None:
        self._data = copy.deepcopy(data)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "ChatMessage":
        if "role" not in data:
            raise ValueError("The `role` field is required in the message dictionary.")
        if not isinstance(data.get("content"), list):
            raise TypeError(f"Unsupported content type in serialized ChatMessage: `{data.get('content')}`")
        d = dict(data)
        d["meta"] = d.get("meta") or {}
        d.setdefault("name", None)
        return cls(d)

    def to_dict(self) -> Dict[str, Any]:
        return copy.deepcopy(self._data)

    @property
    def meta(self) -> Dict[str, Any]:
        return self._data["meta"]

    @property
    def role(self) -> str:
        return self._data["role"]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ChatMessage) and self._data == other._data

    def __repr__(self) -> str:
        return f"ChatMessage(stand-in, {self._data!r})"
