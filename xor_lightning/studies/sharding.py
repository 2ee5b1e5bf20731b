"""Scale-out for the seed studies: each process trains its own slice of the copies.

Copies are independent networks, so splitting them over processes needs no gradient exchange at all;
averaging gradients as DDP does would couple seeds that must stay independent. `CopyShardedStrategy`
is Lightning's `DDPStrategy` (same launchers: `--trainer.devices N` on CPUs or GPUs, torchrun, SLURM,
`--trainer.num_nodes`) with the one step that wraps the module in `DistributedDataParallel` left out.
The process group is still there for what the study needs: gathering the copies' results and
checkpoints on rank 0 (`all_gather`), and the printed mean cost (`reduce`).

    python -m xor_lightning fit -c configs/study_grid.yaml --trainer.devices 2 --trainer.accelerator cpu
"""

from __future__ import annotations

import torch
from lightning.pytorch.strategies import DDPStrategy, StrategyRegistry
from torch import Tensor

NAME = "copy_sharded"


class CopyShardedStrategy(DDPStrategy):
    """DDP's processes without DDP's gradient all-reduce: the module shards its copies itself."""

    def configure_ddp(self) -> None:
        # DDPStrategy wraps the module here; left unwrapped, backward never all-reduces anything.
        pass


StrategyRegistry.register(
    NAME, CopyShardedStrategy, description="one slice of the seed-study copies per process, no all-reduce"
)


def shard_bounds(total: int, rank: int, world_size: int) -> tuple[int, int]:
    """Copies [start, stop) of process `rank`; `total` must be divisible by `world_size`."""
    share = total // world_size
    return rank * share, (rank + 1) * share


def concat_shards(gathered: Tensor, world_size: int) -> Tensor:
    """`all_gather`'s (world, ..., share) -> (..., world * share): the copies back in global order."""
    if world_size == 1:
        return gathered
    return torch.cat(gathered.unbind(0), dim=-1)
