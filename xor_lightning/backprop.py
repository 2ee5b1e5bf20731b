"""Backpropagation by hand, as the notebook's first cell writes it: no autograd anywhere.

Each forward function sits beside the backward function that differentiates it. Weights are laid
out as the notebook lays them, w (in, out) and b (out,), so that `a @ w + b` is the layer.

Gradient modes
--------------
``"notebook"`` keeps the cell's two quirks, because the lesson's numbers come from them:

1. ``d_Y_pred = (Y_pred - Y) / (Y_pred * (1 - Y_pred) + 1e-7)`` is the derivative of the *per-sample*
   BCE (no 1/N), with 1e-7 guarding the division. Every weight gradient ``a.T @ d_l`` therefore sums
   over the batch: it is N times the gradient of the mean cost that the cell prints.
2. The bias updates use ``mean(d_l, 0)``, which *is* the gradient of the mean cost.

So with N = 4 the cell trains its weights at an effective learning rate of 4 and its biases at 1.

``"mean"`` differentiates the printed cost itself (mean BCE, no epsilon): every gradient equals what
autograd gives for ``torch.nn.BCELoss()``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor

GradientMode = Literal["notebook", "mean"]
Params = list[tuple[Tensor, Tensor]]  # [(w (I, O), b (O,)), ...] first layer first


def linear(a: Tensor, w: Tensor, b: Tensor) -> Tensor:
    return torch.add(torch.matmul(a, w), b)  # (N, I) @ (I, O) + (O,) -> (N, O)


def linear_backward(a: Tensor, w: Tensor, d_l: Tensor, need_d_a: bool = True) -> tuple[Tensor, Tensor]:
    d_w = torch.matmul(torch.transpose(a, 0, 1), d_l)  # (I, N) @ (N, O): summed over the batch
    # d_b is d_l itself; d_a is not needed below the first layer (d_X is never used).
    d_a = torch.matmul(d_l, torch.transpose(w, 0, 1)) if need_d_a else d_l  # (N, O) @ (O, I)
    return d_w, d_a


def sigmoid(l: Tensor) -> Tensor:  # noqa: E741 -- `l` is the notebook's name for a pre-activation
    return 1.0 / (1.0 + torch.exp(-l))


def sigmoid_backward(a: Tensor, d_a: Tensor) -> Tensor:
    # The notebook's sigmoid_prime(l) recomputes sigmoid(l) twice; `a` holds the same bits.
    return d_a * (a * (1 - a))


def bce(Y_pred: Tensor, Y: Tensor) -> Tensor:
    return -torch.mean(Y * torch.log(Y_pred) + (1 - Y) * torch.log(1 - Y_pred))


def bce_backward(Y_pred: Tensor, Y: Tensor, mode: GradientMode) -> Tensor:
    if mode == "notebook":
        return (Y_pred - Y) / (Y_pred * (1.0 - Y_pred) + 1e-7)  # per-sample, guarded
    return (Y_pred - Y) / (Y_pred * (1.0 - Y_pred)) / Y.shape[0]  # exact d(mean BCE)/d(Y_pred)


def forward(X: Tensor, params: Params, linear: Callable = linear) -> list[Tensor]:
    """Activations [X, a1, ..., Y_pred]; backward needs every one of them.

    `linear` (and `linear_backward` below) are the only layout-specific steps: the seed ensemble
    passes its own, for a trailing copy dimension, and reuses every other formula here.
    """
    activations = [X]
    for w, b in params:
        activations.append(sigmoid(linear(activations[-1], w, b)))
    return activations


def backward(
    activations: list[Tensor],
    Y: Tensor,
    params: Params,
    mode: GradientMode,
    linear_backward: Callable = linear_backward,
) -> Params:
    """Gradients [(d_w, d_b), ...] in the order of `params`, ready for `p -= lr * grad`."""
    d_a = bce_backward(activations[-1], Y, mode)
    grads: Params = []
    for k in reversed(range(len(params))):
        w, _ = params[k]
        d_l = sigmoid_backward(activations[k + 1], d_a)  # (N, O)
        d_w, d_a = linear_backward(activations[k], w, d_l, need_d_a=k > 0)
        # notebook: mean over the batch (quirk 2); mean mode: d_l already carries the 1/N.
        d_b = torch.mean(d_l, 0) if mode == "notebook" else torch.sum(d_l, 0)
        grads.append((d_w, d_b))
    return grads[::-1]


def init_params(hidden_sizes: list[int], in_features: int = 2) -> Params:
    """torch.randn drawn w1, b1, w2, b2, ... (the tutorial's lecture version of the cell)."""
    sizes = [in_features, *hidden_sizes, 1]
    return [(torch.randn(i, o), torch.randn(o)) for i, o in itertools.pairwise(sizes)]
