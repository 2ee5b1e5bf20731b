"""What the seed ensemble and the study grid share: copy stacks trained side by side, sharded over
processes by CopyShardedStrategy, with results and checkpoints gathered back in global copy order."""

from __future__ import annotations

import math
import sys
import time

import lightning as L
import torch
from torch import Tensor, nn

from xor_lightning.arguments import ConfigError, check_lr, check_positive_int
from xor_lightning.backprop_fast import callback_intervals
from xor_lightning.data import xor_truth_table
from xor_lightning.guards import check_finite
from xor_lightning.network import ACTIVATIONS
from xor_lightning.resources import check_fits
from xor_lightning.studies import compiled_twin
from xor_lightning.studies.copies import CopyStack, Gradient
from xor_lightning.studies.diagnosis import Trend, diagnose
from xor_lightning.studies.settings import check_settings, check_stateless_when_sharded, per_copy_optimizer
from xor_lightning.studies.sharding import NAME, CopyShardedStrategy, concat_shards, shard_bounds
from xor_lightning.xor_module import XORModule


def check_lrs(lr: float | list[float]) -> list[float]:
    lrs = [lr] if isinstance(lr, (int, float)) else list(lr)
    if not lrs:
        raise ValueError("lr must be a number or a non-empty list of numbers")
    lrs = [check_lr(r) for r in lrs]
    check_distinct("lr", lrs)
    return lrs


def check_distinct(name: str, values: list) -> None:
    """A study's results are kept per value: one given twice would be merged into one row silently."""
    repeated = sorted({str(v) for v in values if values.count(v) > 1})
    if repeated:
        raise ValueError(f"{name} lists {', '.join(repeated)} more than once; give each value once")


def check_solved_cost(solved_cost: float) -> float:
    if not 0 < solved_cost < math.log(2):
        raise ValueError(f"solved_cost must be in (0, ln 2), got {solved_cost!r}")
    return solved_cost


def check_copies_launch(trainer: L.Trainer, module: CopiesModule) -> None:
    """Refuse, before fit starts other processes, a sharding the copies cannot take."""
    world, name = trainer.world_size, type(module).__name__
    if world > 1 and module.total_copies % world:
        raise ConfigError(
            f"{name} splits its {module.total_copies} copies evenly over the processes: "
            f"{world} processes do not divide them (change num_copies or --trainer.devices)"
        )
    check_stateless_when_sharded(module.stacks, world)
    if world > 1 and not isinstance(trainer.strategy, CopyShardedStrategy):
        raise ConfigError(
            f"{name} on {world} processes needs --trainer.strategy {NAME}: "
            f"{type(trainer.strategy).__name__} would average gradients between independent copies"
        )


class CopiesModule(XORModule):
    """Base class: `stacks` holds one CopyStack per architecture, all with the same copies (lrs x seeds).

    `training_step` is the readable step: each stack's costs and gradients (`autograd_twin`, autograd's
    formulas), the per-copy update, the solved steps; a batch may be a chunk of n updates
    (data.updates_per_batch, as the studies' configs set it). When the kernel can train every stack
    (plain SGD, float32, CPU: `compiled_twin.usable`), its compiled twin makes the updates instead, with
    the same bits; it returns the mean cost only for the steps a callback's `every_n_steps` names
    (NotebookReport's), None or NaN for the others. XOR_LIGHTNING_COMPILED=0 keeps the readable step.
    """

    own_update_reason = "each copy's update is the per-copy form of its `optimizer` argument, e.g. 'Adam'"
    takes_update_chunks = True  # data.updates_per_batch n: a batch is n updates (training_step)

    def build_stacks(
        self,
        architectures: list[list[int]],
        lrs: list[float],
        num_seeds: int,
        first_seed: int,
        gradient: Gradient,
        settings: list[tuple[str, str]] | None = None,
    ) -> None:
        """settings: (activation, optimizer spec) of each architecture's stack; default sigmoid and SGD."""
        check_positive_int("num_copies", num_seeds)
        if gradient not in ("autograd", "notebook", "mean"):
            raise ValueError(f"gradient must be 'autograd', 'notebook' or 'mean', got {gradient!r}")
        settings = check_settings(settings or [("sigmoid", "SGD")] * len(architectures), gradient)
        check_fits(architectures, num_seeds * len(lrs))  # before anything is allocated
        self.automatic_optimization = False
        self.lrs, self.num_seeds, self.first_seed = lrs, num_seeds, first_seed
        self.total_copies = num_seeds * len(lrs)  # per architecture, over all processes
        self.total_networks = self.total_copies * len(architectures)  # what trains, over all processes
        self.stacks = nn.ModuleList(
            CopyStack(h, lrs, num_seeds, first_seed, gradient, activation, optimizer)
            for h, (activation, optimizer) in zip(architectures, settings, strict=True)
        )
        X, Y = xor_truth_table()  # every copy sees all four samples on every process
        self.register_buffer("X", X, persistent=False)
        self.register_buffer("Y", Y, persistent=False)
        self.sharded_over = 1  # processes the copies are split over (set in setup)
        self.final_stats: list[dict[str, Tensor]] | None = None
        self.diagnosis_seconds = 0.0  # this process's time in the failure diagnosis (the reports print it)
        self.trends = [Trend() for _ in self.stacks]  # what the failure diagnosis needs from the run
        self.compiled = False  # train with the compiled twin (decided in on_train_start)
        self.report_intervals: tuple[int, ...] = ()

    def setup(self, stage: str) -> None:
        world = self.trainer.world_size
        check_copies_launch(self.trainer, self)  # the CLI has checked already; a plain Trainer has not
        if stage == "fit" and world > 1 and self.sharded_over == 1:
            start, stop = shard_bounds(self.total_copies, self.trainer.global_rank, world)
            for stack in self.stacks:
                stack.shard(start, stop)
            self.sharded_over = world

    def gather(self, t: Tensor) -> Tensor:
        """A per-copy tensor of this process -> the same over all copies (collective: every rank calls)."""
        return concat_shards(self.all_gather(t), self.sharded_over) if self.sharded_over > 1 else t

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return per_copy_optimizer(self.stacks)

    def layer_params(self) -> list[tuple[Tensor, Tensor]]:  # what the inspection callbacks show: the first stack
        return self.stacks[0].layer_params()

    def activations(self, x: Tensor) -> list[Tensor]:  # each (N, O, S)
        return self.stacks[0].activations(x)

    def forward(self, x: Tensor) -> Tensor:  # (N, 2) -> (N, copies of every stack)
        return torch.cat([stack(x) for stack in self.stacks], dim=-1)

    def cost(self, hypothesis: Tensor, Y: Tensor) -> Tensor:
        return CopyStack.cost(hypothesis, Y)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor | dict[str, Tensor] | None:
        # A batch is one update, or a chunk of n (X (n, 4, 2): data.updates_per_batch n); either way the
        # copies train on the whole table (the batch may be this rank's share of the samples).
        n = batch[0].shape[0] if batch[0].dim() == 3 else 1
        if self.trainer.max_steps >= 0:
            n = min(n, self.trainer.max_steps - self.global_step)
        if self.compiled:  # the compiled twin of these updates, the same bits (studies/compiled_twin.py)
            return compiled_twin.training_step(self, n)
        costs = []
        for _ in range(n):
            costs.append(self.update())
            self.observe_trends()  # after every update (the compiled step: at each of its cuts)
        return costs[0] if n == 1 else {"loss": costs[0], "costs": torch.stack(costs)}

    def update(self) -> Tensor:
        """One SGD update of every copy; returns the mean cost over all copies before it."""
        X, Y, step, optimizer = self.X, self.Y, self.global_step, self.optimizers()
        optimizer.zero_grad()
        results = [stack.costs_and_gradients(X, Y) for stack in self.stacks]
        total = sum(costs.sum() for _, costs in results)
        check_finite(self, "cost", total.detach())  # NonFiniteGuard sees only autograd's
        if total.requires_grad:  # autograd itself (CopyStack.twin False); the twin has filled .grad
            self.manual_backward(total)  # copies share nothing: each gets its own gradient
        optimizer.step()
        for stack, (hypothesis, costs) in zip(self.stacks, results, strict=True):
            stack.record_solved(step, hypothesis.detach(), costs.detach(), Y, self.hparams.solved_cost)
        return total.detach() / sum(len(stack.solved_step) for stack in self.stacks)

    def observe_trends(self) -> None:
        """What the failure diagnosis needs from the run, after an update (cheap until it records)."""
        for stack, trend in zip(self.stacks, self.trends, strict=True):
            hidden = ACTIVATIONS[stack.activation]
            trend.observe(self.global_step, self.trainer.max_steps, stack.layer_params(), self.X, self.Y, hidden)

    def study_stats(self) -> list[dict[str, Tensor]]:
        """Per stack, per copy in global order: final cost, accuracy, first solved step (-1: never),
        lr, seed, and the failure diagnosis (`xor_lightning.studies.diagnosis`: a class and its measurements
        for every copy that did not learn XOR). Gathers from every process when sharded (then every
        rank must call it)."""
        seeds = torch.arange(self.total_copies) % self.num_seeds + self.first_seed
        lrs = torch.tensor(self.lrs, dtype=torch.float64).repeat_interleave(self.num_seeds)  # exact keys
        stats, self.diagnosis_seconds = [], 0.0
        with torch.no_grad():
            for stack, trend in zip(self.stacks, self.trends, strict=True):
                hypothesis = stack(self.X)
                accuracy = ((hypothesis > 0.5) == self.Y.bool()).float().mean(0)
                local = {
                    "final_cost": stack.cost(hypothesis, self.Y),
                    "accuracy": accuracy,
                    "solved_step": stack.solved_step,
                }
                failed = accuracy < 1
                start = time.perf_counter()
                hidden = ACTIVATIONS[stack.activation]
                local |= diagnose(stack.layer_params(), self.X, self.Y, failed, trend, self.global_step, hidden)
                self.diagnosis_seconds += time.perf_counter() - start
                stats.append({k: self.gather(v).cpu() for k, v in local.items()} | {"lr": lrs, "seed": seeds})
        return stats

    def on_train_start(self) -> None:
        self.final_stats = None
        self.trends = [Trend() for _ in self.stacks]
        # Here the copies sit on their device, in their dtype, sharded: can the kernel train them?
        stacks = list(self.stacks)
        self.compiled = compiled_twin.usable(stacks, self.X)  # builds the kernel only if every stack fits
        if not self.compiled and compiled_twin.all_fit(stacks, self.X) and self.trainer.is_global_zero:
            why = compiled_twin.why_not()  # it would have been used: no C compiler, or its build failed
            print(f"studies: the readable step trains, not the compiled one ({why})", file=sys.stderr)
        self.report_intervals = callback_intervals(self.trainer)

    def on_train_end(self) -> None:
        super().on_train_end()
        self.final_stats = self.study_stats()  # here every rank takes part; reports run on rank 0 only

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        if self.sharded_over > 1:  # every rank dumps the checkpoint; rank 0 writes all copies
            state = checkpoint["state_dict"]
            for key in [k for k in state if k.startswith("stacks.")]:
                state[key] = self.gather(state[key])
        super().on_save_checkpoint(checkpoint)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        super().on_load_checkpoint(checkpoint)
        if self.sharded_over > 1:  # a checkpoint holds every copy; keep this rank's share
            start, stop = shard_bounds(self.total_copies, self.trainer.global_rank, self.sharded_over)
            state = checkpoint["state_dict"]
            for key in [k for k in state if k.startswith("stacks.")]:
                state[key] = state[key][..., start:stop]

    def _evaluate(self, batch: tuple[Tensor, Tensor], stage: str, accuracy: object) -> Tensor:
        hypothesis = self(self.X)
        accuracy = ((hypothesis > 0.5) == self.Y.bool()).float().mean()
        self.log_evaluation(stage, self.cost(hypothesis, self.Y).mean(), accuracy)
        return hypothesis
