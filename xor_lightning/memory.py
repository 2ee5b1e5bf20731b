"""How much memory a vectorised study needs, so an impossible size is refused before allocation."""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence

MAX_COPIES = 1 << 22  # 4M copies: building their initial weights alone would take minutes
BYTES_PER_FLOAT = 4
# Per parameter: the weight, its gradient, the stacking copy made at init and autograd's saved
# tensors; per hidden unit: the (4, O, S) activations and their gradients. Measured peaks were within
# a factor 2 below this on 2-2-1 and 2-10-10-10-1.
PARAM_FACTOR, UNIT_FACTOR = 6, 4 * 6


def estimated_bytes(hidden_sizes: Sequence[int], num_copies: int) -> int:
    """Rough upper estimate of the bytes `num_copies` copies of 2-hidden_sizes-1 need to train."""
    sizes = [2, *hidden_sizes, 1]
    params = sum(i * o + o for i, o in itertools.pairwise(sizes))
    units = sum(sizes)
    return num_copies * BYTES_PER_FLOAT * (PARAM_FACTOR * params + UNIT_FACTOR * units)


def available_bytes() -> int:
    """MemAvailable from /proc/meminfo; elsewhere the physical memory size."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_fits(architectures: Sequence[Sequence[int]], num_copies: int) -> None:
    """ValueError in one sentence when `num_copies` of each architecture exceed MAX_COPIES in all or
    need more than half the memory available now."""
    if num_copies * len(architectures) > MAX_COPIES:
        raise ValueError(f"{num_copies * len(architectures)} copies in all: a study may hold at most {MAX_COPIES}")
    need = sum(estimated_bytes(hidden_sizes, num_copies) for hidden_sizes in architectures)
    limit = available_bytes() // 2
    if need > limit:
        raise ValueError(
            f"{num_copies} copies of each of {[list(h) for h in architectures]} need about {need / 2**30:.1f} GiB, "
            f"more than half the {2 * limit / 2**30:.1f} GiB of memory available"
        )
