"""STAND-IN for haystack.utils (Secret), for tests only: see ../README.md. Not Haystack."""

import os
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Optional, Tuple, Union


@dataclass(frozen=True)
class Secret:
    _env_vars: Tuple[str, ...] = ()
    _strict: bool = True
    _token: Optional[str] = None

    @staticmethod
    def from_env_var(env_vars: Union[str, list], *, strict: bool = True) -> "Secret":
        if isinstance(env_vars, str):
            env_vars = [env_vars]
        return Secret(_env_vars=tuple(env_vars), _strict=strict)

    @staticmethod
    def from_token(token: str) -> "Secret":
        return Secret(_token=token)

    def to_dict(self) -> Dict[str, Any]:
        if self._token is not None:
            raise ValueError("Cannot serialize token-based secret. Use an alternative secret type like environment variables.")
        return {"type": "env_var", "env_vars": list(self._env_vars), "strict": self._strict}

    @staticmethod
    def from_dict(d: Dict[str, Any]) -> "Secret":
        if d["type"] != "env_var":
            raise ValueError(f"unknown secret type {d['type']!r}")
        return Secret(_env_vars=tuple(d["env_vars"]), _strict=d["strict"])

    def resolve_value(self) -> Optional[str]:
        if self._token is not None:
            return self._token
        for name in self._env_vars:
            value = os.getenv(name)
            if value is not None:
                return value
        if self._strict:
            raise ValueError(f"None of the following authentication environment variables are set: {self._env_vars}")
        return None


def deserialize_secrets_inplace(data: Dict[str, Any], keys: Iterable[str], *, recursive: bool = False) -> None:
    for k, v in data.items():
        if isinstance(v, dict) and recursive:
            deserialize_secrets_inplace(v, keys)
        elif k in keys and v is not None:
            data[k] = Secret.from_dict(v)
