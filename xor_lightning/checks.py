"""Input checks shared by the modules, the callbacks and the CLI: each raises one readable sentence."""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Sequence

MAX_LR = 100.0
MAX_HIDDEN_LAYERS = 64
# Of the memory free at start-up, how much one model may plan to use (weights, gradients, activations).
MEMORY_SHARE = 0.5


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
            raise ValueError(f"hidden_sizes must be positive integers, got {_short(sizes)}")
    return sizes


def parameter_count(hidden_sizes: Sequence[int], in_features: int = 2) -> int:
    sizes = [in_features, *hidden_sizes, 1]
    return sum((i + 1) * o for i, o in itertools.pairwise(sizes))


def available_memory() -> int:
    """Bytes the kernel says a new allocation can get now (MemAvailable), else total RAM."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_memory(hidden_sizes: Sequence[int], copies: int = 1, bytes_per_value: int = 4) -> None:
    """Refuse, before allocating, a model this machine cannot hold.

    Weights, their gradients and a few activation-sized temporaries per parameter: 4 values each. The
    widest layer's activations on the four samples are negligible beside its weights.
    """
    if not isinstance(copies, int) or isinstance(copies, bool):
        raise ValueError(f"num_copies must be a positive integer, got {copies!r}")
    need = 4 * parameter_count(check_hidden_sizes(hidden_sizes)) * copies * bytes_per_value
    limit = MEMORY_SHARE * available_memory()
    if need > limit:
        raise ValueError(
            f"hidden_sizes {_short(list(hidden_sizes))}{f' x {copies} copies' if copies > 1 else ''} needs about {need / 2**30:.1f} GiB, "
            f"more than this machine can give ({limit / 2**30:.1f} GiB)"
        )


def _short(value: object, limit: int = 80) -> str:
    """repr(value), cut to `limit` characters: an error line never echoes a whole input."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 5] + " ...]"
