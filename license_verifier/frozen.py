"""Building frozen dataclass instances on the verification path without their generated ``__init__``.

A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``, which costs more than
the checks around it when one verification builds several such objects. ``build`` fills the instance's
dict at once: the same object for a class without slots, its caller doing what a ``__post_init__`` would.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def build(cls: type[T], base: Mapping[str, Any] = {}, /, **values: Any) -> T:  # noqa: B006 - only read
    """Return an instance of the frozen dataclass cls holding base's fields updated with values, every field given."""
    instance = object.__new__(cls)
    instance.__dict__.update(base, **values)
    return instance
