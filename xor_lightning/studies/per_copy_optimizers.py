"""The studies' optimizers: one learning rate per copy, so a study of several lrs is one vectorised model.

`PerCopySGD` is plain SGD; `PerCopyOptimizer` adds SGD with momentum and Adam, the studies' cures.
Every update is elementwise, so the copies (last dimension) never mix: copy k's update is the one
`torch.optim.SGD(momentum=...)` / `torch.optim.Adam` makes for that network alone, with the same
formulas in the same order (torch's single-tensor implementations), lr broadcast over the copies.
A stack names its optimizer by a spec, "SGD", "SGD(momentum=0.9)", "Adam(betas=(0.9, 0.99))":
torch.optim's class name and keyword arguments, lr aside (the copies' lrs are the study's lr axis).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from xor_lightning.studies.copies import CopyStack


class PerCopySGD(torch.optim.Optimizer):
    """p <- p - lr[k] * grad for copy k, with the bits of the single network's own update.

    autograd copies: `addcmul_(grad, lr, value=-1)`, bit-identical to `torch.optim.SGD`'s
    `add_(grad, alpha=-lr)` (checked at lr 0.1, 0.3, 0.7, 3 and 10). Hand-backprop copies: `p - lr * grad`,
    the notebook cell's own formula. The learning rates stay in the stacks' `copy_lr` buffers, not in the
    optimizer's state, so a checkpoint's optimizer state never overrides another process's share.
    """

    def __init__(self, stacks: Sequence[CopyStack]) -> None:
        super().__init__([p for stack in stacks for p in stack.parameters()], {})
        self.stacks = list(stacks)

    def spec(self) -> str:  # the HParams column: the update it makes
        return "SGD"

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for k, stack in enumerate(self.stacks):
            lr = stack.copy_lr  # (S,): broadcasts over (I, O, S) and (O, S)
            for p in stack.parameters():
                if p.grad is not None:
                    self.update(k, stack, p, lr)
        return loss

    def update(self, k: int, stack: CopyStack, p: Tensor, lr: Tensor) -> None:
        """Parameter p of stack k, at its copies' lrs: plain SGD."""
        plain_sgd(p, lr, stack.gradient)


def plain_sgd(p: Tensor, lr: Tensor, gradient: str) -> None:
    if gradient == "autograd":
        p.addcmul_(p.grad, lr, value=-1)  # torch.optim.SGD's add_(grad, alpha=-lr), bit for bit
    else:
        p.sub_(lr * p.grad)  # the notebook cell's own p - lr * grad


# The settings each per-copy update implements, with torch.optim's defaults.
SUPPORTED: dict[str, dict[str, Any]] = {
    "SGD": {"momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False},
    "Adam": {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0},
}
_SPEC = re.compile(r"^\s*(\w+)\s*(?:\((.*)\))?\s*$", re.DOTALL)


def parse_spec(spec: object) -> tuple[str, dict[str, Any]]:
    """ "SGD(momentum=0.9)" -> ("SGD", {"momentum": 0.9}); ValueError in one sentence if it is not one."""
    match = _SPEC.match(spec) if isinstance(spec, str) else None
    name = match.group(1) if match else None
    if name not in SUPPORTED:
        raise ValueError(f"optimizer must be SGD or Adam, with settings if any as in 'SGD(momentum=0.9)', got {spec!r}")
    try:
        call = ast.parse(f"f({match.group(2) or ''})", mode="eval").body
        assert isinstance(call, ast.Call) and not call.args
        kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}
    except (SyntaxError, ValueError, AssertionError):
        raise ValueError(f"optimizer {spec!r}: settings must be keyword=number, as in 'SGD(momentum=0.9)'") from None
    unknown = sorted(set(kwargs) - set(SUPPORTED[name]))
    if unknown:
        hint = " (the lr is the study's lr argument)" if "lr" in unknown else ""
        raise ValueError(f"optimizer {spec!r}: {name} per copy takes {', '.join(SUPPORTED[name])}, not {unknown}{hint}")
    settings = {**SUPPORTED[name], **kwargs}
    if name == "SGD" and settings["nesterov"] and (settings["momentum"] <= 0 or settings["dampening"] != 0):
        raise ValueError(f"optimizer {spec!r}: nesterov needs a momentum and zero dampening, as in torch.optim.SGD")
    if name == "Adam" and not (len(settings["betas"]) == 2 and all(0 <= b < 1 for b in settings["betas"])):
        raise ValueError(f"optimizer {spec!r}: betas must be two numbers in [0, 1)")
    return name, settings


def is_plain_sgd(spec: str) -> bool:
    name, settings = parse_spec(spec)
    return name == "SGD" and settings == SUPPORTED["SGD"]


class PerCopyOptimizer(PerCopySGD):
    """Each stack's own update (its `optimizer` spec), at each copy's own lr; plain SGD stacks as PerCopySGD.

    The moment estimates live in the optimizer's state (saved in checkpoints, restored on resume).
    """

    def __init__(self, stacks: Sequence[CopyStack]) -> None:
        super().__init__(stacks)
        self.updates = [parse_spec(stack.optimizer) for stack in self.stacks]

    def spec(self) -> str:
        return ", ".join(dict.fromkeys(stack.optimizer for stack in self.stacks))

    def update(self, k: int, stack: CopyStack, p: Tensor, lr: Tensor) -> None:
        name, settings = self.updates[k]
        if name == "Adam":
            self._adam(p, p.grad, lr, **settings)
        elif settings != SUPPORTED["SGD"]:
            self._momentum(p, p.grad, lr, **settings)
        else:  # plain SGD: PerCopySGD's update, bit for bit
            plain_sgd(p, lr, stack.gradient)

    def _momentum(
        self,
        p: Tensor,
        grad: Tensor,
        lr: Tensor,
        momentum: float,
        dampening: float,
        weight_decay: float,
        nesterov: bool,
    ) -> None:
        # torch.optim.SGD's single-tensor update, lr per copy.
        state = self.state[p]
        d_p = grad.add(p, alpha=weight_decay) if weight_decay else grad
        if momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = d_p.clone()
            else:
                buf.mul_(momentum).add_(d_p, alpha=1 - dampening)
            d_p = d_p.add(buf, alpha=momentum) if nesterov else buf
        p.addcmul_(d_p, lr, value=-1)

    def _adam(
        self, p: Tensor, grad: Tensor, lr: Tensor, betas: Sequence[float], eps: float, weight_decay: float
    ) -> None:
        # torch.optim.Adam's single-tensor update (not amsgrad, not decoupled), lr per copy.
        state = self.state[p]
        if not state:
            state["step"] = torch.tensor(0.0)
            state["exp_avg"] = torch.zeros_like(p)
            state["exp_avg_sq"] = torch.zeros_like(p)
        beta1, beta2 = betas
        state["step"] += 1
        step = state["step"].item()
        if weight_decay:
            grad = grad.add(p, alpha=weight_decay)
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        step_size = lr / (1 - beta1**step)  # (S,)
        denom = (exp_avg_sq.sqrt() / (1 - beta2**step) ** 0.5).add_(eps)
        p.addcmul_(exp_avg / denom, step_size, value=-1)
