"""The fast twin of a copy stack's autograd step: autograd's own formulas, written out, with the same bits.

`CopyStack` with gradient "autograd" builds a graph over broadcast layers, `(a.unsqueeze(2) * w).sum(1)`,
whose (N, I, O, S) products are large temporaries: for the 10 x 10 layers of thousands of copies they
no longer fit in cache, and the step becomes memory-bound. This twin computes the same values without
a graph and without those temporaries: each sum over I (forward), N (weight gradient) or O (input
gradient) is a loop of (N, O, S)-sized products added in the order torch's reduction adds them, and
every elementwise backward is the kernel's own formula in its own order:

    BCE (reduction "none", then mean over N):  d_h = (1/N * (h - y)) / max((1 - h) * h, 1e-12)
    sigmoid:     d_l = (d_a * (1 - a)) * a          tanh:        d_l = d_a * fma(-a, a, 1)
    relu:        d_l = d_a where a > 0, else 0      leaky_relu:  d_l = d_a where a > 0, else d_a * 0.01

No product in a sum is fused into a multiply-add (`addcmul` rounds once where `a + b * c` rounds twice).
torch adds a reduction's terms in order when the copies (the innermost dimension) number a multiple of
32, as in the shipped studies: then every gradient, cost and weight is autograd's, bit for bit
(tests/test_studies_twin.py). For other copy counts torch's own order changes with the shape and the
two can differ in the last bit; copies still equal single runs to 1e-6 (tests/test_ensemble.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from xor_lightning.network import ACTIVATIONS

LEAKY_SLOPE = 0.01  # F.leaky_relu's default, the one ACTIVATIONS uses


def linear(a: Tensor, w: Tensor, b: Tensor) -> Tensor:
    """(N, I, S), (I, O, S), (O, S) -> (N, O, S): sum over i of a[:, i] * w[i], in i order, then + b."""
    out = torch.mul(a[:, 0, None, :], w[0])
    product = torch.empty_like(out)
    for i in range(1, w.shape[0]):
        out.add_(torch.mul(a[:, i, None, :], w[i], out=product))
    return out.add_(b)


def linear_backward(a: Tensor, w: Tensor, d_l: Tensor, need_d_a: bool) -> tuple[Tensor, Tensor, Tensor | None]:
    """d_w (I, O, S): sum over n of a[n] x d_l[n]; d_b (O, S): sum over n; d_a (N, I, S): sum over o."""
    d_w = torch.mul(a[0, :, None, :], d_l[0, None, :, :])
    product = torch.empty_like(d_w)
    for n in range(1, a.shape[0]):
        d_w.add_(torch.mul(a[n, :, None, :], d_l[n, None, :, :], out=product))
    d_b = d_l.sum(0)
    if not need_d_a:
        return d_w, d_b, None
    d_a = torch.mul(d_l[:, None, 0, :], w[None, :, 0, :])
    product = torch.empty_like(d_a)
    for o in range(1, w.shape[1]):
        d_a.add_(torch.mul(d_l[:, None, o, :], w[None, :, o, :], out=product))
    return d_w, d_b, d_a


def activation_backward(name: str, a: Tensor, d_a: Tensor) -> Tensor:
    """d_l from the layer's output a and the gradient d_a of that output (d_a is overwritten)."""
    if name == "sigmoid":
        return d_a.mul_(1 - a).mul_(a)
    if name == "tanh":
        return d_a.mul_(torch.addcmul(torch.ones_like(a), a, a, value=-1))  # 1 - a * a, one rounding, as torch
    if name == "relu":
        return d_a.masked_fill_(a <= 0, 0.0)
    if name == "leaky_relu":
        return torch.where(a > 0, d_a, d_a * LEAKY_SLOPE)
    raise ValueError(f"no hand gradient for activation {name!r}")


@torch.no_grad()
def costs_and_gradients(
    params: list[tuple[Tensor, Tensor]], X: Tensor, Y: Tensor, activation: str
) -> tuple[Tensor, Tensor]:
    """(hypothesis (N, S), costs (S,)) of every copy, and each parameter's `.grad`, as autograd gives them
    for the sum over copies of each copy's mean BCE (copies share nothing, so each gets its own gradient)."""
    S = params[0][0].shape[-1]
    hidden = ACTIVATIONS[activation]
    outputs = [X.unsqueeze(-1).expand(-1, -1, S)]  # (N, 2) -> (N, 2, S), no copy made
    for k, (w, b) in enumerate(params, start=1):
        nonlinearity = torch.sigmoid if k == len(params) else hidden
        outputs.append(nonlinearity(linear(outputs[-1], w, b)))  # (N, O, S)
    h = outputs[-1].squeeze(1)  # (N, S)
    y = Y.expand_as(h)
    costs = F.binary_cross_entropy(h, y, reduction="none").mean(0)  # (S,)
    d_h = (h - y).mul_(1.0 / h.shape[0]).div_(((1 - h) * h).clamp_min_(1e-12))
    d_l = d_h.mul_(1 - h).mul_(h).unsqueeze(1)  # (N, 1, S): through the output sigmoid
    for k in range(len(params) - 1, -1, -1):
        w, b = params[k]
        d_w, d_b, d_a = linear_backward(outputs[k], w, d_l, need_d_a=k > 0)
        w.grad, b.grad = d_w, d_b
        if d_a is not None:
            d_l = activation_backward(activation, outputs[k], d_a)
    return h, costs
