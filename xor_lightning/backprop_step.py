"""The formulas of `xor_lightning.backprop`, fast: the same operations in the same order, in place.

`backprop.forward`/`backward` are the readable reference; `NotebookStep` computes the same bits
(tests/test_backprop_step.py compares them bit for bit) in about half the time, because on tensors
this small each torch call costs far more than its arithmetic. It allocates its buffers once and
then only writes into them, and it never fuses or reorders a rounding: `addmm`, `torch.sigmoid` or
`torch.compile` would round differently from the notebook.

Identities it relies on, each exact in IEEE arithmetic (and in torch's CPU kernels):
- `1.0 / x` is `x.reciprocal() * 1.0` in torch (Tensor.__rtruediv__), and `* 1.0` changes no bit;
- `torch.mean` is `torch.sum(...).div_(count)`, and `-(s / 4)` equals `s / -4`;
- a Python scalar in `x + 1e-7` is rounded to the tensor's dtype, as a 0-d tensor of that dtype is;
- the notebook's `sigmoid_prime(l)` recomputes `sigmoid(l)`: the stored activation holds the same bits.
"""

from __future__ import annotations

import torch
from torch import Tensor

from xor_lightning.backprop import GradientMode, Params


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
