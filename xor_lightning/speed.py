"""Speed helpers kept beside the lesson: each removes a cost of Lightning's per-step machinery, none
changes a number. The lesson's classes name them in one word (a base class, a config entry), and
bench/RESULTS.md measures what each saves; the fast twin of the hand backprop is `backprop_fast`.

- `FastSetattr`: a LightningModule mixin. Lightning names the running hook in an attribute of the
  module around every hook call, many times a training step, and `nn.Module.__setattr__` checks
  every such plain value against parameters, buffers and submodules before storing it.
- `OnDeviceBatch`: a LightningDataModule mixin. The four samples already sit where the model is;
  Lightning's generic walk over each batch would move nothing, at the cost of a tensor op a step.
- `PlannedUpdates`: an optimizer mixin for the notebook's update, `p = p - lr * grad`, that writes
  `lr * grad` into a buffer allocated once per parameter instead of a new tensor every update.
- `NoProfiler`: the CLI's Trainer profiler. Lightning wraps every hook call in
  `trainer.profiler.profile(name)`; its default `PassThroughProfiler` records nothing either, but
  builds a generator-based context manager for each call. `--trainer.profiler simple` profiles as usual.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from lightning.pytorch.profilers import PassThroughProfiler

# Values nn.Module.__setattr__ stores as plain attributes unless they name a parameter, buffer or submodule.
_PLAIN_TYPES = frozenset({str, int, float, bool, type(None)})
_NOTHING = contextlib.nullcontext()  # reusable: it keeps no state


class FastSetattr:
    """Stores a plain value (str, int, float, bool, None) that names no parameter, buffer or submodule
    directly, as `nn.Module.__setattr__` ends up doing anyway; everything else goes through it."""

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        if (
            type(value) in _PLAIN_TYPES
            and "_modules" in d
            and name not in d["_parameters"]
            and name not in d["_buffers"]
            and name not in d["_modules"]
        ):
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)


class OnDeviceBatch:
    """A batch of tensors already on the target device passes through `transfer_batch_to_device` as is."""

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        if isinstance(batch, (tuple, list)) and all(isinstance(t, torch.Tensor) and t.device == device for t in batch):
            return batch
        return super().transfer_batch_to_device(batch, device, dataloader_idx)  # type: ignore[misc]


class PlannedUpdates:
    """`p.sub_(lr * grad)` for every parameter with a gradient, into buffers planned once: the same two
    roundings as the readable update (lr as a 0-d tensor of p's dtype rounds as the Python float does)."""

    def step(self, closure: Any = None) -> Any:
        loss = closure() if closure is not None else None  # Lightning's before-step hooks run in it
        groups = self.param_groups  # type: ignore[attr-defined]
        lrs = tuple(group["lr"] for group in groups)
        if lrs != self.__dict__.get("_lrs"):  # first step, or a scheduler changed an lr
            self._lrs = lrs
            self._plan = [
                (p, torch.empty_like(p), torch.tensor(group["lr"], dtype=p.dtype, device=p.device))
                for group in groups
                for p in group["params"]
            ]
        for p, scaled, lr in self._plan:
            if p.grad is not None:
                # Autograd must not record the update (the notebook's parameters never require grad).
                with torch.no_grad() if p.requires_grad else _NOTHING:
                    p.sub_(torch.mul(p.grad, lr, out=scaled))  # p - lr * grad
        return loss


class NoProfiler(PassThroughProfiler):
    """`PassThroughProfiler` whose `profile()` hands out one shared, reusable null context."""

    def profile(self, action_name: str) -> contextlib.AbstractContextManager:  # type: ignore[override]
        return _NOTHING
