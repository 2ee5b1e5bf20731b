"""Why a network did not learn XOR: measurements of where its training ended, and a class from them.

A failed network is not explained by its cost alone: cost 0.3466 (two inputs at 1/2) and 0.4774 (three
inputs at 2/3) and 0.6931 (all four at 1/2) each have more than one cause. So each failed copy is
measured at the end of training, in float64 on a copy of its weights:

- its four outputs, its cost and the norm of the gradient of the mean cost;
- the smallest eigenvalue of the Hessian of the mean cost, and how many are negative: exact (the full
  Hessian, one Hessian-vector product per parameter for all copies at once, then `eigvalsh`) for
  nets of up to 64 parameters, from Lanczos iterations (Hessian-vector products again) above;
- from the run itself (`Trend`): how fast the weight norm grew and the cost fell over the second half
  of training, per e-fold of steps (a norm that grows like c * ln t has rate c whatever the window),
  and how far the outputs moved over the last step and the last two steps.

From these, in this order (the thresholds are the constants below):

- **oscillating**: the outputs swing by more than OSCILLATION_SWING in one step and come back within
  a quarter of that in two: period 2, the step too large for the curvature;
- **saddle**: a Hessian eigenvalue below NEGATIVE_EIGENVALUE: a direction that still goes down
  (the ln 2 plateau is one, with dozens of them);
- **still learning**: the cost still falling faster than STILL_LEARNING per e-fold of steps;
- **minimum at infinity**: no negative eigenvalue, a gradient below SMALL_GRADIENT and the weight norm
  still growing faster than WEIGHT_GROWTH per e-fold of steps: the cost creeps down to a floor it
  reaches only at infinite weights;
- **finite minimum**: no negative eigenvalue, a small gradient and weights that no longer grow;
- **unclear**: none of these (e.g. the run was resumed too late to measure its trend).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch
from torch import Tensor

from xor_lightning.studies.copies import CopyStack, linear

Params = list[tuple[Tensor, Tensor]]  # [(w (I, O, S), b (O, S)), ...]: copy dimension last
Activation = Callable[[Tensor], Tensor]  # the hidden layers' (the output layer's is always a sigmoid)

OSCILLATION_SWING = 0.05  # largest output change in one step, above float noise and slow drift
NEGATIVE_EIGENVALUE = -1e-7  # float64 Hessians of these nets are exact to ~1e-15; saddles measure -1e-5 or less
STILL_LEARNING = 0.01  # cost fall per e-fold of steps; a minimum at infinity creeps at ~1e-3
SMALL_GRADIENT = 1e-2  # gradient norm of the mean cost; a learning network's is ~0.1 or more
WEIGHT_GROWTH = 0.1  # weight-norm growth per e-fold of steps; the 2-2-1 minima at infinity measure ~2.5
HESSIAN_CHUNK_BYTES = 256 * 2**20  # float64 Hessians (or Lanczos bases) held at once, to bound memory
EXACT_HESSIAN_PARAMETERS = 64  # up to this many parameters the full Hessian; above, Lanczos (much cheaper)
LANCZOS_STEPS = 48  # Lanczos iterations for the larger nets (2-10-10-10-1 has 261 parameters)
REORTHOGONALISE = 1  # Gram-Schmidt passes per step against every earlier vector (2: "twice is enough")
DIAGNOSIS_MIN_STEPS = 100  # a run shorter than this has no trend to measure: its failures are not diagnosed

CLASSES = ("solved", "oscillating", "saddle", "still learning", "minimum at infinity", "finite minimum", "unclear")
SOLVED, OSCILLATING, SADDLE, STILL_LEARNING_CLASS, AT_INFINITY, FINITE_MINIMUM, UNCLEAR = range(len(CLASSES))


def weight_norm(params: Params) -> Tensor:  # (S,): the norm of every weight and bias of each copy
    return torch.sqrt(sum((t.detach().double() ** 2).flatten(0, -2).sum(0) for wb in params for t in wb))


def outputs(params: Params, X: Tensor, activation: Activation = torch.sigmoid) -> Tensor:
    a = X.to(params[0][0].dtype).unsqueeze(-1).expand(-1, -1, params[0][0].shape[-1])  # (N, 2, S)
    for k, (w, b) in enumerate(params):
        z = linear(a, w, b)  # (N, O, S)
        a = torch.sigmoid(z) if k == len(params) - 1 else activation(z)  # the output is always a sigmoid
    return a.squeeze(1)  # (N, S)


class Trend:
    """What only the run can tell: the weight norm and cost at the middle of training, and the outputs
    of the last two steps. `observe` after every update (cheap: it compares integers until it records)."""

    def __init__(self) -> None:
        self.start_step: int | None = None
        self.start_norm = self.start_cost = None
        self.recent: dict[int, Tensor] = {}  # step -> outputs (N, S), for the last two steps

    def observe(
        self, step: int, max_steps: int, params: Params, X: Tensor, Y: Tensor, activation: Activation = torch.sigmoid
    ) -> None:
        if max_steps <= 0:
            return
        if self.start_step is None and step >= max_steps // 2:
            with torch.no_grad():
                self.start_step, self.start_norm = step, weight_norm(params)
                self.start_cost = CopyStack.cost(outputs(params, X, activation), Y).double()
        if step >= max_steps - 2:
            with torch.no_grad():
                self.recent[step] = outputs(params, X, activation).double()

    def subset(self, index: Tensor) -> Trend:  # the same trend for the copies at `index` only
        part = Trend()
        if self.start_step is not None:
            part.start_step, part.start_norm, part.start_cost = (
                self.start_step,
                self.start_norm[index],
                self.start_cost[index],
            )
        part.recent = {s: h[:, index] for s, h in self.recent.items()}
        return part


def _chunks(
    params: Params, X: Tensor, Y: Tensor, copies: int, activation: Activation
) -> Iterator[tuple[list[Tensor], tuple[Tensor, ...]]]:
    """Chunks of at most `copies` copies, each as (float64 leaves w1, b1, ..., gradients of the mean costs
    with their graph). The copies share nothing, so one backward of the sum of their costs gives each
    copy its own gradient, and one more gives each its own Hessian-vector product."""
    S = params[0][0].shape[-1]
    for start in range(0, S, copies):
        flat = [t.detach()[..., start : start + copies].double().requires_grad_() for wb in params for t in wb]
        part = [(flat[k], flat[k + 1]) for k in range(0, len(flat), 2)]
        with torch.enable_grad():
            cost = CopyStack.cost(outputs(part, X.double(), activation), Y.double())  # (C,)
            yield flat, torch.autograd.grad(cost.sum(), flat, create_graph=True)


def _hvp(flat: list[Tensor], grads: tuple[Tensor, ...], v: Tensor) -> Tensor:
    """(C, P) vectors, one per copy, -> each copy's Hessian times its vector, (C, P)."""
    C, parts, i = v.shape[0], [], 0
    for t in flat:  # (C, P) -> tensors shaped like the parameters, copy dimension last
        n = t[..., 0].numel()
        parts.append(v[:, i : i + n].T.contiguous().reshape(t.shape))
        i += n
    with torch.enable_grad():
        hv = torch.autograd.grad(grads, flat, parts, retain_graph=True)
    return torch.cat([h.reshape(-1, C) for h in hv]).T


def _norm(grads: tuple[Tensor, ...]) -> Tensor:  # (C,)
    C = grads[0].shape[-1]
    return torch.sqrt(sum((g.detach() ** 2).reshape(-1, C).sum(0) for g in grads))


def gradient_and_hessians(
    params: Params, X: Tensor, Y: Tensor, activation: Activation = torch.sigmoid
) -> Iterator[tuple[Tensor, Tensor]]:
    """Per copy, float64, chunk by chunk of copies: the norm of the gradient of its mean cost (C,) and its
    full Hessian (C, P, P), column j from one Hessian-vector product with e_j in every copy. Parameters
    are ordered w1, b1, w2, ... each flattened row by row."""
    P = sum(t[..., 0].numel() for wb in params for t in wb)
    for flat, grads in _chunks(params, X, Y, max(1, HESSIAN_CHUNK_BYTES // (8 * P * P)), activation):
        C = flat[0].shape[-1]
        H = torch.empty(C, P, P, dtype=torch.float64, device=flat[0].device)  # (C, P, P)
        basis = torch.zeros(C, P, dtype=torch.float64, device=flat[0].device)
        for j in range(P):
            basis[:, j] = 1.0
            H[:, :, j] = _hvp(flat, grads, basis)
            basis[:, j] = 0.0
        yield _norm(grads), H


def lanczos(
    params: Params, X: Tensor, Y: Tensor, steps: int, activation: Activation = torch.sigmoid
) -> Iterator[tuple[Tensor, Tensor]]:
    """Per copy, chunk by chunk: the gradient norm (C,) and the `steps` Ritz values (C, steps), ascending,
    of `steps` Lanczos iterations on its Hessian (full reorthogonalisation, the same start vector in
    every copy). Ritz values lie inside the spectrum: the smallest is never below the smallest
    eigenvalue, so a negative one proves negative curvature."""
    P = sum(t[..., 0].numel() for wb in params for t in wb)
    start = torch.randn(P, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for flat, grads in _chunks(params, X, Y, max(1, HESSIAN_CHUNK_BYTES // (8 * P * steps)), activation):
        C = flat[0].shape[-1]
        Q = torch.zeros(C, steps, P, dtype=torch.float64, device=flat[0].device)  # the Lanczos basis
        alpha, beta = Q.new_zeros(C, steps), Q.new_zeros(C, steps)
        q = (start / start.norm()).to(Q.device).expand(C, P).clone()
        for j in range(steps):
            Q[:, j] = q
            w = _hvp(flat, grads, q)
            alpha[:, j] = (w * q).sum(1)
            for _ in range(REORTHOGONALISE):
                basis = Q[:, : j + 1]  # (C, j + 1, P)
                w -= torch.bmm(torch.bmm(w.unsqueeze(1), basis.transpose(1, 2)), basis).squeeze(1)
            beta[:, j] = w.norm(dim=1)
            q = torch.where(beta[:, j : j + 1] > 1e-30, w / beta[:, j : j + 1].clamp_min(1e-300), 0.0)
        T = torch.diag_embed(alpha) + torch.diag_embed(beta[:, :-1], 1) + torch.diag_embed(beta[:, :-1], -1)
        yield _norm(grads), torch.linalg.eigvalsh(T)


def gradient_and_curvature(
    params: Params, X: Tensor, Y: Tensor, activation: Activation = torch.sigmoid
) -> tuple[Tensor, Tensor, Tensor]:
    """Per copy: the gradient norm, the smallest Hessian eigenvalue and how many are below NEGATIVE_EIGENVALUE.

    Exact (the full Hessian) for nets of up to EXACT_HESSIAN_PARAMETERS parameters; above, LANCZOS_STEPS
    Lanczos iterations give the smallest Ritz value (an upper bound of the smallest eigenvalue, close
    to it) and the count of negative Ritz values (a lower bound of the count of negative eigenvalues)."""
    P = sum(t[..., 0].numel() for wb in params for t in wb)
    if P <= EXACT_HESSIAN_PARAMETERS:
        chunks = (
            (g, torch.linalg.eigvalsh((H + H.transpose(1, 2)) / 2)) for g, H in gradient_and_hessians(params, X, Y)
        )
    else:
        chunks = lanczos(params, X, Y, LANCZOS_STEPS, activation)
    norms, smallest, negative = [], [], []
    for gradient_norm, eigenvalues in chunks:  # (C,), (C, n) ascending
        norms.append(gradient_norm)
        smallest.append(eigenvalues[:, 0])
        negative.append((eigenvalues < NEGATIVE_EIGENVALUE).sum(1))
    return torch.cat(norms), torch.cat(smallest), torch.cat(negative)


def classify(m: dict[str, Tensor]) -> Tensor:
    """One class per failed copy (codes into CLASSES) from `measure`'s measurements, in the docstring's order."""
    swinging = (m["swing"] > OSCILLATION_SWING) & (m["swing_back"] < m["swing"] / 4)
    saddle = m["hessian_min"] < NEGATIVE_EIGENVALUE
    learning = m["cost_fall_rate"] > STILL_LEARNING
    flat = m["gradient_norm"] < SMALL_GRADIENT
    growing = m["weight_growth_rate"] > WEIGHT_GROWTH
    settled = m["weight_growth_rate"] <= WEIGHT_GROWTH  # False where the trend is unknown (NaN)
    classes = torch.full(swinging.shape, UNCLEAR, dtype=torch.long)
    for mask, code in reversed(
        [
            (swinging, OSCILLATING),
            (saddle, SADDLE),
            (learning, STILL_LEARNING_CLASS),
            (flat & growing, AT_INFINITY),
            (flat & settled, FINITE_MINIMUM),
        ]
    ):
        classes[mask] = code  # the earlier rule wins: it is written last
    return classes


def measure(
    params: Params, X: Tensor, Y: Tensor, trend: Trend, step: int, activation: Activation = torch.sigmoid
) -> dict[str, Tensor]:
    """Every measurement of the copies in `params` (all failed ones) at step `step`, the end of training."""
    nan = torch.full((params[0][0].shape[-1],), math.nan, dtype=torch.float64, device=params[0][0].device)
    with torch.no_grad():
        h = outputs(params, X, activation).double()  # (N, S)
        cost = CopyStack.cost(h, Y.double())
        norm = weight_norm(params)
    gradient_norm, smallest, negative = gradient_and_curvature(params, X, Y, activation)
    m = {"outputs": h, "gradient_norm": gradient_norm, "weight_norm": norm, "hessian_min": smallest}
    m["negative_eigenvalues"] = negative
    efolds = math.log(step / trend.start_step) if trend.start_step and step > trend.start_step else math.nan
    m["weight_growth_rate"] = (norm - trend.start_norm) / efolds if trend.start_step else nan
    m["cost_fall_rate"] = (trend.start_cost - cost) / efolds if trend.start_step else nan
    before, two_before = trend.recent.get(step - 1), trend.recent.get(step - 2)
    m["swing"] = (h - before).abs().amax(0) if before is not None else nan
    m["swing_back"] = (h - two_before).abs().amax(0) if two_before is not None else nan
    m["class"] = classify(m)
    return m


COLUMNS = ("gradient_norm", "weight_norm", "weight_growth_rate", "cost_fall_rate", "swing", "swing_back")
COLUMNS += ("hessian_min", "negative_eigenvalues")


def diagnose(
    params: Params,
    X: Tensor,
    Y: Tensor,
    failed: Tensor,
    trend: Trend,
    step: int,
    activation: Activation = torch.sigmoid,
) -> dict[str, Tensor]:
    """`measure` for the copies where `failed` (S,) is True, scattered back over all S copies: class
    SOLVED and NaN measurements for the others. Outputs (every copy's) are (N, S), the rest (S,)."""
    S = failed.shape[0]
    index = failed.nonzero().squeeze(1)
    device = failed.device
    result = {"class": torch.full((S,), SOLVED, dtype=torch.long, device=device)}
    result |= {c: torch.full((S,), math.nan, dtype=torch.float64, device=device) for c in COLUMNS}
    with torch.no_grad():
        result["outputs"] = outputs(params, X, activation).double()  # (N, S): every copy's, solved or not
    if len(index) and step < DIAGNOSIS_MIN_STEPS:
        result["class"][index] = UNCLEAR  # too short a run to say anything but "not learned yet"
    elif len(index):
        part = [(w[..., index], b[..., index]) for w, b in params]
        m = measure(part, X, Y, trend.subset(index), step, activation)
        for key, value in m.items():
            result[key][..., index] = value.to(result[key].dtype)
    return result


SLUGS = tuple(c.replace(" ", "_") for c in CLASSES)  # CSV column names: fraction_saddle, ...
FRACTIONS = {0.0: "0", 1 / 3: "1/3", 0.5: "1/2", 2 / 3: "2/3", 1.0: "1"}


def nice(value: float) -> str:
    """An output as the fraction it sits at (within 0.02), else two decimals: (0, 1/2, 1, 1/2)."""
    for exact, text in FRACTIONS.items():
        if abs(value - exact) < 0.02:
            return text
    return f"{value:.2f}"


def typical_outputs(classes: Tensor, outputs: Tensor, code: int) -> tuple[str, float, int]:
    """The most common pattern of final outputs (N, S) among the copies of class `code`:
    (pattern such as "(0, 1/2, 1, 1/2)", its share of the class, the index of one copy showing it)."""
    index = (classes == code).nonzero().squeeze(1)
    if not len(index):
        return "", 0.0, -1
    h = outputs[:, index].T.double()  # (K, N)
    exact = torch.tensor(list(FRACTIONS), dtype=torch.float64)
    near = (h.unsqueeze(-1) - exact).abs().min(-1)
    shown = torch.where(near.values < 0.02, exact[near.indices], (h * 100).round() / 100)  # what `nice` prints
    patterns, inverse, counts = torch.unique(shown, dim=0, return_inverse=True, return_counts=True)
    best = int(counts.argmax())
    first = int((inverse == best).nonzero()[0, 0])
    pattern = "(" + ", ".join(nice(v) for v in patterns[best].tolist()) + ")"
    return pattern, counts[best].item() / len(index), int(index[first])
