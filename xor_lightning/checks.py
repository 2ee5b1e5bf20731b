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
MAX_COPIES = 1 << 22  # 4M copies: building their initial weights alone would take minutes
BYTES_PER_FLOAT = 4
PARAM_FACTOR, UNIT_FACTOR = 6, 4 * 6


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


def estimated_bytes(hidden_sizes: Sequence[int], num_copies: int = 1) -> int:
    """Rough upper estimate of the bytes `num_copies` copies of 2-hidden_sizes-1 need to train.

    Per parameter: the weight, its gradient, the stacking copy made at init and autograd's saved
    tensors; per unit: the (4, O, S) activations and their gradients. Measured peaks were within a
    factor 2 below this on 2-2-1 and 2-10-10-10-1.
    """
    sizes = [2, *hidden_sizes, 1]
    return num_copies * BYTES_PER_FLOAT * (PARAM_FACTOR * parameter_count(hidden_sizes) + UNIT_FACTOR * sum(sizes))


def check_fits(architectures: Sequence[Sequence[int]], num_copies: int = 1) -> None:
    """Refuse, before allocating, models this machine cannot hold: ValueError in one sentence when
    `num_copies` of each architecture exceed MAX_COPIES in all or need more than MEMORY_SHARE of the
    memory available now."""
    check_positive_int("num_copies", num_copies)
    architectures = [check_hidden_sizes(h) for h in architectures]
    if num_copies * len(architectures) > MAX_COPIES:
        raise ValueError(f"{num_copies * len(architectures)} copies in all: a study may hold at most {MAX_COPIES}")
    need = sum(estimated_bytes(h, num_copies) for h in architectures)
    limit = MEMORY_SHARE * available_memory()
    if need > limit:
        what = f"hidden_sizes {_short(architectures[0])}" if len(architectures) == 1 else "these networks"
        copies = f" x {num_copies} copies" if num_copies > 1 else ""
        raise ValueError(
            f"{what}{copies} needs about {need / 2**30:.1f} GiB, more than this machine can give "
            f"({limit / 2**30:.1f} GiB)"
        )


def check_memory(hidden_sizes: Sequence[int], copies: int = 1) -> None:
    check_fits([hidden_sizes], copies)


def _short(value: object, limit: int = 80) -> str:
    """repr(value), cut to `limit` characters: an error line never echoes a whole input."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 5] + " ...]"
