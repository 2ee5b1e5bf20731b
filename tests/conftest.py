from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch

from xor_lightning import quiet

quiet.install()  # as the CLI and the notebook do: the tests read this run's messages, not the libraries'

REPO = Path(__file__).resolve().parents[1]


class LossRecorder(L.Callback):
    """Keeps the cost of every training step, as the module returned it (the studies' compiled step returns
    one only on the steps a callback's every_n_steps names: the others are skipped)."""

    def __init__(self) -> None:
        self.losses: list[torch.Tensor] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if outputs:  # {} when the step returned None
            self.losses.append(outputs["loss"].detach().clone())

    @property
    def stacked(self) -> torch.Tensor:
        return torch.stack(self.losses)


@pytest.fixture
def tiny_trainer(tmp_path):
    """A CPU Trainer with no logger, bar or checkpoints; returns (trainer, recorder)."""

    def make(max_steps: int, **overrides: Any) -> tuple[L.Trainer, LossRecorder]:
        recorder = LossRecorder()
        kwargs: dict[str, Any] = dict(
            accelerator="cpu",
            devices=1,
            max_steps=max_steps,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            limit_val_batches=0,
            default_root_dir=tmp_path,
        )
        kwargs.update(overrides)
        kwargs["callbacks"] = [recorder, *kwargs.get("callbacks", [])]
        return L.Trainer(**kwargs), recorder

    return make


def run_cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m xor_lightning ARGS` as a user types it, in `cwd` (where logs/ goes)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "xor_lightning", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def tree(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under `folder` with its size and mtime: "nothing written or changed" compares two."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def assert_refused_in_one_line(result: subprocess.CompletedProcess, expected: str, code: int = 2) -> None:
    """Exit `code`, and stderr is exactly one line: `error: ...` naming the problem."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == code, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], result.stderr
    assert len(lines[0]) <= 400


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> dict[str, Path]:
    """last.ckpt of short real CLI fits: xor_nn, xor_nn_wide_deep, xor_backprop and a small ensemble."""
    cwd = tmp_path_factory.mktemp("trained")
    runs = {
        "xor_nn": ["-c", str(REPO / "configs/xor_nn.yaml")],
        "xor_nn_wide_deep": ["-c", str(REPO / "configs/xor_nn_wide_deep.yaml")],
        "xor_backprop": ["-c", str(REPO / "configs/xor_backprop.yaml")],
        "study_xor_nn": ["-c", str(REPO / "configs/study_xor_nn.yaml"), "--model.init_args.num_copies=8"],
    }
    for args in runs.values():
        result = run_cli("fit", *args, "--trainer.max_steps=20", cwd=cwd)
        assert result.returncode == 0, result.stderr
    return {name: cwd / f"logs/{name}/version_0/checkpoints/last.ckpt" for name in runs}
