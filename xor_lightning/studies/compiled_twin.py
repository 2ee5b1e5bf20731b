"""The compiled twin of the studies' SGD step: `copies_kernel.c`, built by the C compiler on first use.

The readable step (`CopiesModule.training_step` with `autograd_twin`) runs some thirty torch ops per
layer, each over every copy at once: for thousands of copies each op's arrays leave the cache, and for
the narrow networks each op's own fixed cost is most of its time. The kernel instead trains the copies
block by block (32 copies, one per vector lane), forward, solved step, backward and update of one block
before the next, so a block's weights and activations stay in the core's cache.

It computes the readable step's bits: every product, sum and update in `autograd_twin`'s order and
rounding (torch's fused multiply-add where torch's kernel has one, in `addcmul_`; none elsewhere),
the sigmoid with torch's own exp (SLEEF's, which torch's vector kernels call), the cost with the C
library's log and log1p (which torch's BCE kernel calls). tests/test_compiled_twin.py compares weights,
costs and solved steps with the readable step at every step, and the sigmoid over millions of inputs.
A copy's bits do not depend on how many copies train beside it or where it sits (a short last block is
trained padded), so any sharding over processes gives the same weights and solved steps.

Used when every stack is plain SGD on autograd's gradient (the default studies) with a sigmoid, ReLU or
leaky-ReLU hidden layer, in float32 on the CPU, and the kernel builds; otherwise (tanh, momentum, Adam,
the hand-backprop modes, CUDA, float64, no C compiler) or with XOR_LIGHTNING_COMPILED=0 the readable
step trains. The library is cached per source, flags and machine under $XOR_LIGHTNING_CACHE (default
~/.cache/xor_lightning; the temporary directory if that cannot be written): one build per source and machine.
"""

from __future__ import annotations

import ctypes
import hashlib
import math
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import lightning as L
import torch
from torch import Tensor

from xor_lightning.guards import non_finite_error
from xor_lightning.studies.copies import CopyStack
from xor_lightning.studies.per_copy_optimizers import is_plain_sgd

SOURCE = Path(__file__).with_name("copies_kernel.c")
# -ffp-contract=off: a + b * c stays two roundings, as torch's kernels compute it; -fno-trapping-math lets the
# exp's range checks become vector selects; -fopenmp-simd honours the kernel's `omp simd` loops (no threads).
FLAGS = ["-O3", "-march=native", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math", "-fopenmp-simd"]
FLAGS += ["-shared", "-fPIC"]
LIBRARIES = ["-lm"]
ACTIVATION_IDS = {"sigmoid": 0, "relu": 1, "leaky_relu": 2}  # copies_kernel.c's enum
MAX_LAYERS = 15

_state: dict[str, object] = {}  # "library": the loaded function, or "why_not": the reason it is not


def cache_dir() -> Path:
    if os.environ.get("XOR_LIGHTNING_CACHE"):
        return Path(os.environ["XOR_LIGHTNING_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "xor_lightning"


def _machine() -> str:
    """What -march=native depends on: the CPU's model and flags."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        info = ""
    lines = [line for line in info.splitlines() if line.startswith(("model name", "flags"))][:2]
    return platform.machine() + "\n" + "\n".join(lines)


def _build(compiler: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(suffix=".so", dir=target.parent)  # then one rename: no half-written library
    os.close(fd)
    try:
        command = [compiler, *FLAGS, "-o", temporary, str(SOURCE), *LIBRARIES]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode:
            raise RuntimeError(f"{compiler} failed: {done.stderr.strip().splitlines()[-1:]}")
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def kernel() -> ctypes._CFuncPtr | None:
    """The kernel's entry point, built if this machine has no build of this source yet; None if it cannot
    be (no C compiler, or the build failed): `why_not()` says why."""
    if "library" in _state or "why_not" in _state:
        return _state.get("library")  # type: ignore[return-value]
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        _state["why_not"] = "no C compiler (cc) found"
        return None
    key = hashlib.sha256("\n".join([SOURCE.read_text(), *FLAGS, *LIBRARIES, compiler, _machine()]).encode())
    name = f"copies_kernel-{key.hexdigest()[:16]}.so"
    # The cache, else (not writable, e.g. a read-only home) a folder of this user's in the temporary directory.
    folders = [cache_dir(), Path(tempfile.gettempdir()) / f"xor_lightning-{os.getuid()}"]
    library = error = None
    for folder in folders:
        try:
            if not (folder / name).exists():
                _build(compiler, folder / name)
            library = ctypes.CDLL(str(folder / name))
            break
        except (OSError, RuntimeError, subprocess.SubprocessError) as problem:
            error = problem
    if library is None:
        _state["why_not"] = f"the kernel did not build: {error}"
        return None
    p, i64 = ctypes.c_void_p, ctypes.c_int64
    function = library.xor_copies_train
    function.argtypes = [ctypes.c_int, p, p, p, i64, p, p, p, p, p, ctypes.c_int, i64, ctypes.c_int, ctypes.c_float]
    function.restype = ctypes.c_int
    library.xor_sigmoid.argtypes = [i64, p, p]
    _state["library"], _state["sigmoid"] = function, library.xor_sigmoid
    return function


def enabled() -> bool:
    """False when XOR_LIGHTNING_COMPILED=0: the readable step trains every study."""
    return os.environ.get("XOR_LIGHTNING_COMPILED", "1") != "0"


def why_not() -> str | None:
    if not enabled():
        return "XOR_LIGHTNING_COMPILED=0"
    kernel()
    return _state.get("why_not")  # type: ignore[return-value]


def sigmoid(x: Tensor) -> Tensor:
    """The kernel's sigmoid of a float32 tensor (its exp is torch's: tests/test_compiled_twin.py)."""
    x = x.detach().float().contiguous()
    out = torch.empty_like(x)
    kernel()
    _state["sigmoid"](x.numel(), x.data_ptr(), out.data_ptr())  # type: ignore[operator]
    return out


def fits(stack: CopyStack, X: Tensor) -> bool:
    """Whether the kernel computes what this stack's readable step computes."""
    params = [t for wb in stack.layer_params() for t in wb]
    return (
        stack.gradient == "autograd"
        and stack.twin
        and is_plain_sgd(stack.optimizer)
        and stack.activation in ACTIVATION_IDS
        and len(params) // 2 <= MAX_LAYERS
        and X.shape == (4, 2)
        and all(t.device.type == "cpu" and t.dtype == torch.float32 and t.is_contiguous() for t in params)
    )


def usable(stacks: list[CopyStack], X: Tensor) -> bool:
    """Every stack fits and the kernel is built: then the whole training step is the compiled one."""
    return all_fit(stacks, X) and kernel() is not None


def all_fit(stacks: list[CopyStack], X: Tensor) -> bool:
    """The compiled step is enabled and computes what every stack's readable step computes."""
    return enabled() and all(fits(stack, X) for stack in stacks)


def train(
    stack: CopyStack, X: Tensor, Y: Tensor, first_step: int, steps: int, solved_cost: float, want_costs: bool = True
) -> tuple[Tensor | None, int | None]:
    """`steps` SGD steps of every copy of the stack, in place, recording in stack.solved_step the first
    step each copy is solved. Returns (each copy's cost (S,) at the last step's forward, or None unless
    want_costs; None, or the first of the steps (0 .. steps - 1) whose outputs were not finite in a block
    of 32 copies: that block stopped before its update, the others went on)."""
    params = stack.layer_params()
    S = stack.copy_lr.shape[0]
    sizes = (ctypes.c_int * (len(params) + 1))(*[params[0][0].shape[0], *(w.shape[1] for w, _ in params)])
    weights = (ctypes.c_void_p * len(params))(*[w.data_ptr() for w, _ in params])
    biases = (ctypes.c_void_p * len(params))(*[b.data_ptr() for _, b in params])
    x, y = X.contiguous().float(), Y.contiguous().float()
    costs = torch.empty(S) if want_costs else None
    costs_ptr = costs.data_ptr() if costs is not None else None
    per_copy = (stack.copy_lr.data_ptr(), stack.solved_step.data_ptr(), costs_ptr, x.data_ptr(), y.data_ptr())
    act, run = ACTIVATION_IDS[stack.activation], kernel()
    stopped = run(len(params), sizes, weights, biases, S, *per_copy, act, first_step, steps, solved_cost)
    if stopped < 0:
        raise MemoryError("the compiled studies kernel could not allocate its scratch memory")
    return costs, (stopped - 1 if stopped else None)


def training_step(module: L.LightningModule, n: int) -> Tensor | dict[str, Tensor] | None:
    """`CopiesModule.training_step` for n updates (a chunk, or 1) of stacks that `usable` accepts.

    The kernel makes every stack's updates in place (no `.grad` is written) and records the solved
    steps; `optimizer.step()` then only counts each update for Lightning. The chunk is cut where the
    readable step would do something between two updates: where a callback reads the cost (its
    `every_n_steps`), and where the failure diagnosis records its trend (`Trend.observe`). Returns
    the mean cost over all copies of those steps, as the readable step computes it: a tensor for one
    update, {"loss", "costs"} for a chunk (NaN at steps no callback reads), None when no callback
    reads any (the logs of every copy's cost would take about as long as the rest of the step).
    A non-finite output stops the run with NonFiniteError at its step, as the readable step does: the
    32-copy blocks that had it stop before that update, the others have gone on to the cut."""
    start, end, solved_cost = module.global_step, module.global_step + n, module.hparams.solved_cost
    wanted = [s for s in range(start, end) if any(s % every == 0 for every in module.report_intervals)]
    cuts = sorted({end, *(s for s in wanted if s > start), *(s for s in trend_steps(module) if start < s < end)})
    costs, optimizer, step = torch.full((n,), math.nan), module.optimizers(), start
    for cut in cuts:
        lengths = [1, cut - step - 1] if step in wanted else [cut - step]
        for length in (k for k in lengths if k > 0):
            read = step in wanted  # then length is 1: the kernel gives the costs before this one update
            results = [train(s, module.X, module.Y, step, length, solved_cost, read) for s in module.stacks]
            stopped = min((t for _, t in results if t is not None), default=None)
            for _ in range(length if stopped is None else stopped):
                optimizer.step()  # counts the update (global_step, max_steps, checkpoints)
            if stopped is not None:
                raise non_finite_error(module, "cost")
            if read:  # the readable step's sum, in its order, over every copy
                total = sum(c.sum() for c, _ in results)
                costs[step - start] = total / sum(len(s.solved_step) for s in module.stacks)
            step += length
        module.observe_trends()
    if not wanted:
        return None
    return costs[0] if n == 1 else {"loss": costs[0], "costs": costs}


def trend_steps(module: L.LightningModule) -> list[int]:
    """The global steps after which `Trend.observe` records (the readable step observes after every update)."""
    max_steps = module.trainer.max_steps
    if max_steps <= 0:
        return []
    first = [max(max_steps // 2, module.global_step + 1)] if any(t.start_step is None for t in module.trends) else []
    return [*first, max_steps - 2, max_steps - 1, max_steps]
