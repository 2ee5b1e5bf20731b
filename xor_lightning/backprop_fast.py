"""The fast twin of the hand-backprop step: the same formulas, in place, several updates per Lightning batch.

`XORBackpropClassifier.training_step` (backprop_module.py) is the lesson: `backprop.forward`, the cost,
`backprop.backward`, the update, one Lightning batch per update. On tensors this small each torch call
and each Lightning hook cost far more than the arithmetic, so the shipped config takes this path instead
(data.updates_per_batch: 100): it computes the same bits, which tests/test_backprop_step.py and
tests/test_backprop_chunks.py compare with the readable step at every step.

- `NotebookStep` allocates its buffers once and then only writes into them; it never fuses or reorders
  a rounding (`addmm`, `torch.sigmoid` or `torch.compile` would round differently from the notebook).
- `ChunkedStream` serves a chunk of n updates as one batch, X (n, 4, 2) and Y (n, 4, 1) as views
  (`expand`, no copy); chunks end on every callback interval and epoch end (`aligned_chunk`), so each
  printed step, snapshot and validation lands on a chunk boundary, also after a resume from any step.
- `chunked_training_step` makes the chunk's updates through the module's optimizer, so Lightning still
  counts each one (`global_step`, `max_steps`, checkpoints, gradient hooks), and stops after the
  current update at `max_steps`, Ctrl-C (`trainer.should_stop`) or SIGTERM.

Identities `NotebookStep` relies on, each exact in IEEE arithmetic (and in torch's CPU kernels):
- `1.0 / x` is `x.reciprocal() * 1.0` in torch (Tensor.__rtruediv__), and `* 1.0` changes no bit;
- `torch.mean` is `torch.sum(...).div_(count)`, and `-(s / 4)` equals `s / -4`;
- a Python scalar in `x + 1e-7` is rounded to the tensor's dtype, as a 0-d tensor of that dtype is;
- the notebook's `sigmoid_prime(l)` recomputes `sigmoid(l)`: the stored activation holds the same bits.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import IterableDataset

from xor_lightning.backprop import GradientMode, Params
from xor_lightning.guards import non_finite_error


def chunked_training_step(module: L.LightningModule, batch: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
    """Up to n updates for a chunk X (n, 4, 2), Y (n, 4, 1); {"loss": first cost, "costs": every cost}."""
    X, Y = batch
    n, trainer = X.shape[0], module.trainer
    if trainer.max_steps >= 0:
        n = min(n, trainer.max_steps - module.global_step)
    if X.stride(0) == 0 and Y.stride(0) == 0:  # the same batch n times: one view serves all
        pairs: Iterable[tuple[Tensor, Tensor]] = itertools.repeat((X[0], Y[0]), n)
    else:
        pairs = zip(X.unbind(0)[:n], Y.unbind(0)[:n], strict=True)
    step, optimizer = notebook_step(module, Y[0]), module.optimizers()
    costs = []
    for x, y in pairs:
        cost = step.cost_and_grads(x, y)
        value = cost.item()
        if not math.isfinite(value):
            raise non_finite_error(module, "cost")  # NonFiniteGuard's check, for an update without hooks
        optimizer.step()  # Lightning counts the update: global_step, max_steps, checkpoints
        costs.append(value)
        if trainer.should_stop or trainer.received_sigterm:  # stop after this update, not this chunk
            break
    done = torch.tensor(costs, dtype=Y.dtype, device=Y.device)  # float32 -> float -> float32: exact
    return {"loss": done[0], "costs": done}


def notebook_step(module: L.LightningModule, Y: Tensor) -> NotebookStep:
    """The module's NotebookStep, built once for its parameters (as Lightning placed them) and Y's shape."""
    params = module.layer_params()
    step = module.__dict__.get("_notebook_step")
    if step is None or step.params[0][0] is not params[0][0] or step.Y.shape != Y.shape or step.Y.device != Y.device:
        step = module.__dict__["_notebook_step"] = NotebookStep(params, Y, module.hparams.gradient_mode)
    for (w, b), (d_w, d_b) in zip(params, step.grads, strict=True):
        w.grad, b.grad = d_w, d_b  # the buffers the step refills: the optimizer reads them
    return step


class NotebookStep:
    """Cost and hand gradients of one update, written into buffers it owns.

    Built for one set of parameter tensors (updated in place between calls) and targets shaped like Y.
    `grads` [(d_w, d_b), ...] are the tensors every call refills: hand them to the parameters as `.grad`.
    """

    def __init__(self, params: Params, Y: Tensor, mode: GradientMode) -> None:
        self.params, self.Y, self.mode = params, Y, mode
        n = Y.shape[0]
        scalar = Y.new_empty(())
        self.one, self.eps = scalar.new_full((), 1.0), scalar.new_full((), 1e-7)
        self.minus_n, self.n = scalar.new_full((), -n), scalar.new_full((), n)
        self.one_minus_Y = 1 - Y  # the cost's `(1 - Y)`: recomputed only for another Y
        self.w_T = [torch.transpose(w, 0, 1) for w, _ in params]  # views: they follow the in-place updates

        def per_layer(width: int = 0) -> list[Tensor]:
            return [Y.new_empty(n, width or w.shape[1]) for w, _ in params]

        self.act, self.one_minus, self.prime, self.d_l = per_layer(), per_layer(), per_layer(), per_layer()
        self.act_T = [torch.transpose(a, 0, 1) for a in self.act]
        self.d_a = [Y.new_empty(n, w.shape[0]) for w, _ in params]  # d_a[k]: gradient of layer k's input
        self.grads: Params = [(torch.empty_like(w), torch.empty_like(b)) for w, b in params]
        self.terms, self.scratch, self.cost = Y.new_empty(Y.shape), Y.new_empty(Y.shape), scalar
        self._X: Tensor | None = None
        self._X_T = scalar

    def cost_and_grads(self, X: Tensor, Y: Tensor) -> Tensor:
        """The cost before the update (a buffer: read it before the next call) and the gradients."""
        if X is not self._X:
            self._X, self._X_T = X, torch.transpose(X, 0, 1)
        if Y is not self.Y:
            self.Y, self.one_minus_Y = Y, 1 - Y
        a = X
        for (w, b), act in zip(self.params, self.act, strict=True):
            torch.mm(a, w, out=act).add_(b)  # l = a @ w + b
            act.neg_().exp_().add_(self.one).reciprocal_()  # sigmoid(l) = 1.0 / (1.0 + exp(-l))
            a = act
        self._cost(a)
        self._backward()
        return self.cost

    def _cost(self, Y_pred: Tensor) -> None:
        # -mean(Y * log(Y_pred) + (1 - Y) * log(1 - Y_pred))
        one_minus = torch.sub(self.one, Y_pred, out=self.one_minus[-1])
        torch.log(Y_pred, out=self.terms).mul_(self.Y)
        torch.log(one_minus, out=self.scratch).mul_(self.one_minus_Y)
        torch.sum(self.terms.add_(self.scratch), dim=(0, 1), out=self.cost).div_(self.minus_n)

    def _backward(self) -> None:
        last = len(self.params) - 1
        Y_pred, d_l = self.act[last], self.d_l[last]
        prime = torch.mul(Y_pred, self.one_minus[last], out=self.prime[last])  # Y_pred * (1.0 - Y_pred)
        torch.sub(Y_pred, self.Y, out=d_l)  # d_Y_pred, then d_l of the last layer in the same buffer
        if self.mode == "notebook":
            d_l.div_(torch.add(prime, self.eps, out=self.scratch))
        else:
            d_l.div_(prime).div_(self.n)
        d_l.mul_(prime)  # d_Y_pred * sigmoid_prime(l)
        for k in range(last, -1, -1):
            d_w, d_b = self.grads[k]
            torch.mm(self._X_T if k == 0 else self.act_T[k - 1], d_l, out=d_w)  # a.T @ d_l
            torch.sum(d_l, 0, out=d_b)
            if self.mode == "notebook":
                d_b.div_(self.n)  # torch.mean(d_l, 0)
            if k == 0:
                return
            d_a = torch.mm(d_l, self.w_T[k], out=self.d_a[k])  # d_l @ w.T
            a = self.act[k - 1]
            prime = torch.mul(a, torch.sub(self.one, a, out=self.one_minus[k - 1]), out=self.prime[k - 1])
            d_l = torch.mul(d_a, prime, out=self.d_l[k - 1])


def aligned_chunk(trainer: L.Trainer | None, updates_per_batch: int, steps_per_epoch: int) -> int:
    """The largest chunk that divides updates_per_batch, the epoch and every callback's `every_n_steps`.

    ModelCheckpoint keeps `every_n_train_steps` private, so it cannot be read: pick updates_per_batch
    dividing it (or save at epoch ends, the CLI's default).
    """
    return math.gcd(updates_per_batch, steps_per_epoch, *callback_intervals(trainer))


def callback_intervals(trainer: L.Trainer | None) -> tuple[int, ...]:
    """Every callback's `every_n_steps`: the steps a callback looks in on (NotebookReport prints the cost)."""
    intervals = (getattr(cb, "every_n_steps", None) for cb in (trainer.callbacks if trainer else []))
    return tuple(i for i in intervals if isinstance(i, int) and i > 0)


class ChunkedStream(IterableDataset):
    """One Lightning epoch of `steps_per_epoch` updates, in aligned chunks of at most `chunk` updates.

    `position()` gives (global step, chunk) when the epoch's iterator starts: it starts at the step
    Lightning resumes from, and ends the epoch on the next multiple of `steps_per_epoch`. It then
    counts the steps itself: Lightning fetches one batch ahead, so the live global step would be late.
    It has no `__len__` (the number of chunks depends on where it starts): Lightning ends the epoch
    when the iterator stops and validates then (`val_check_interval` 1.0, the default).
    """

    def __init__(
        self, X: torch.Tensor, Y: torch.Tensor, steps_per_epoch: int, position: Callable[[], tuple[int, int]]
    ) -> None:
        self.X, self.Y, self.steps_per_epoch, self.position = X, Y, steps_per_epoch, position

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        X, Y = self.X, self.Y
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
            X, Y = X.tensor_split(world)[rank], Y.tensor_split(world)[rank]
        step, chunk = self.position()
        end = (step // self.steps_per_epoch + 1) * self.steps_per_epoch
        while step < end:
            n = min(chunk - step % chunk, end - step)
            yield X.expand(n, *X.shape), Y.expand(n, *Y.shape)
            step += n
