"""How much memory a model or a study will need, checked before anything is allocated.

The CLI checks the configured model, and `checkpoints.read_checkpoint` a checkpoint's hyperparameters,
before building either: a network too large for this machine is refused in one line instead of being
killed by the kernel halfway through its allocation.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from xor_lightning.arguments import check_hidden_sizes, check_positive_int, parameter_count, short

# Of the memory free at start-up, how much one model may plan to use (weights, gradients, activations).
MEMORY_SHARE = 0.5
MAX_COPIES = 1 << 22  # 4M copies: building their initial weights alone would take minutes
BYTES_PER_FLOAT = 4
PARAM_FACTOR, UNIT_FACTOR = 6, 4 * 6


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
        what = f"hidden_sizes {short(architectures[0])}" if len(architectures) == 1 else "these networks"
        copies = f" x {num_copies} copies" if num_copies > 1 else ""
        raise ValueError(
            f"{what}{copies} needs about {need / 2**30:.1f} GiB, more than this machine can give "
            f"({limit / 2**30:.1f} GiB)"
        )
