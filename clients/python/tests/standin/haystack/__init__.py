"""STAND-IN for Haystack, for tests only: see ../README.md. Not Haystack."""

from typing import Any, Dict, Type, TypeVar

from .utils import Secret

STANDIN = True

T = TypeVar("T")


class DeserializationError(Exception):
    pass


def default_to_dict(obj: Any, **init_parameters: Any) -> Dict[str, Any]:
    params = {
        k: (v.to_dict() if v is not None and callable(getattr(v, "to_dict", None)) else v)
        for k, v in init_parameters.items()
    }
    cls = type(obj)
    return {"type": f"{cls.__module__}.{cls.__name__}", "init_parameters": params}


def default_from_dict(cls: Type[T], data: Dict[str, Any]) -> T:
    init_params = dict(data.get("init_parameters", {}))
    if "type" not in data:
        raise DeserializationError("Missing 'type' in serialization data")
    if data["type"] != f"{cls.__module__}.{cls.__name__}":
        raise DeserializationError(f"Class '{data['type']}' can't be deserialized as '{cls.__name__}'")
    for key, value in init_params.items():
        if isinstance(value, dict) and value.get("type") == "env_var":
            init_params[key] = Secret.from_dict(value)
    return cls(**init_params)
