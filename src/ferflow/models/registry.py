"""The registry of architectures: name -> builder (see :mod:`ferflow.models`)."""

from __future__ import annotations

from typing import Callable

from ferflow.errors import ConfigError

_REGISTRY: dict[str, Callable] = {}


def register(name: str):
    def deco(fn: Callable) -> Callable:
        if name in _REGISTRY:
            raise ValueError(f"architecture {name!r} registered twice")
        _REGISTRY[name] = fn
        return fn
    return deco


def names() -> list[str]:
    return sorted(_REGISTRY)


def builder(name: str) -> Callable:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown architecture {name!r}; registered: {', '.join(names())}") from None
