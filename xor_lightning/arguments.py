"""The lesson's argument checks (lr, hidden_sizes, counts): each raises one readable sentence.

The LightningModules call them in `__init__`, so a bad value fails the same way from Python and from the CLI.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

MAX_LR = 100.0
MAX_HIDDEN_LAYERS = 64


class ConfigError(ValueError):
    """A configuration that cannot work; the CLI reports it as one line and exits with code 2."""


def check_positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def check_lr(lr: object) -> float:
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr):
        raise ValueError(f"lr must be a finite number, got {lr!r}")
    if not 0 < lr <= MAX_LR:
        raise ValueError(f"lr must be in (0, {MAX_LR:g}], got {lr!r}")
    return float(lr)


def check_hidden_sizes(hidden_sizes: Sequence[int]) -> list[int]:
    """Plain list of positive ints, or a ValueError saying which entry is wrong."""
    sizes = list(hidden_sizes)
    if len(sizes) > MAX_HIDDEN_LAYERS:
        raise ValueError(f"hidden_sizes may have at most {MAX_HIDDEN_LAYERS} layers, got {len(sizes)}")
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"hidden_sizes must be positive integers, got {short(sizes)}")
    return sizes


def parameter_count(hidden_sizes: Sequence[int], in_features: int = 2) -> int:
    sizes = [in_features, *hidden_sizes, 1]
    return sum((i + 1) * o for i, o in itertools.pairwise(sizes))


def short(value: object, limit: int = 80) -> str:
    """repr(value), cut to `limit` characters: an error line never echoes a whole input."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 5] + " ...]"
