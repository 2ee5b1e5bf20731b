"""Stopping and resuming through the CLI, in separate processes, must not change a single bit."""

import os
import re
import signal
import subprocess
import sys

import pytest
import torch

from tests.conftest import REPO, run_cli
from tests.oracle import notebook_backprop, notebook_nn
from tests.test_cli_end_to_end import STEP_LINE, scalars

CONFIGS = {"xor_nn": REPO / "configs/xor_nn.yaml", "xor_backprop": REPO / "configs/xor_backprop.yaml"}


def fit(cwd, config, *extra):
    result = run_cli("fit", "-c", str(CONFIGS[config]), "--report.every_n_steps=50", *extra, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return result


def printed(result) -> dict[int, str]:
    return {int(m.group(1)): m.group(2) for m in map(STEP_LINE.match, result.stdout.splitlines()) if m}


def last_ckpt(cwd, config, version=0):
    return torch.load(cwd / f"logs/{config}/version_{version}/checkpoints/last.ckpt", weights_only=True)


def oracle_weights(config, steps) -> list[torch.Tensor]:
    if config == "xor_backprop":
        return list(notebook_backprop(steps)[1].values())
    return [p.detach() for p in notebook_nn([2], steps)[1].parameters()]


@pytest.mark.parametrize("config", ["xor_nn", "xor_backprop"])
def test_150_steps_then_resume_to_300_equals_300_straight(config, tmp_path):
    straight_dir, split_dir = tmp_path / "straight", tmp_path / "split"
    straight_dir.mkdir(), split_dir.mkdir()
    straight = fit(straight_dir, config, "--trainer.max_steps=300")
    first = fit(split_dir, config, "--trainer.max_steps=150")
    resumed = fit(split_dir, config, "--trainer.max_steps=300", "--ckpt_path=last")

    # Really loaded, not a fresh start: Lightning says so, and the first printed step is 150.
    assert "Restored all states from the checkpoint" in resumed.stderr
    assert min(printed(resumed)) == 150
    assert printed(resumed) == {s: c for s, c in printed(straight).items() if s >= 150}
    assert printed(first) == {s: c for s, c in printed(straight).items() if s < 150}

    a, b = last_ckpt(straight_dir, config), last_ckpt(split_dir, config)
    assert a["global_step"] == b["global_step"] == 300
    assert a["state_dict"].keys() == b["state_dict"].keys()
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    assert a["optimizer_states"] == b["optimizer_states"]

    # The resumed run writes into the same version folder and TensorBoard's steps carry on.
    assert not (split_dir / f"logs/{config}/version_1").exists()
    steps = [s for s, _ in scalars(split_dir / f"logs/{config}/version_0")["train_loss"]]
    assert steps == [0, 50, 100, 150, 200, 250]


def interrupt_after_step_100(cwd, config, signum):
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "xor_lightning", "fit", "-c", str(CONFIGS[config]), "--trainer.max_steps=1000000"]
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:
            if line.startswith("100 "):
                proc.send_signal(signum)
                break
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    return proc.returncode, err


@pytest.mark.parametrize(
    ("config", "signum", "exit_code", "message"),
    [
        ("xor_backprop", signal.SIGINT, 1, "interrupted at step="),
        ("xor_nn", signal.SIGTERM, 143, "stopped by SIGTERM at step="),
    ],
    ids=["sigint-backprop", "sigterm-autograd"],
)
def test_interrupt_leaves_the_last_completed_step_and_resumes_exactly(config, signum, exit_code, message, tmp_path):
    code, err = interrupt_after_step_100(tmp_path, config, signum)
    assert code == exit_code, err
    assert message in err and "Traceback" not in err
    ckpt = last_ckpt(tmp_path, config)
    stopped = ckpt["global_step"]
    assert stopped > 100
    # The message counts as the checkpoint does: its step=N is the file's name and global_step.
    said = int(re.search(r"at step=(\d+) ", err).group(1))
    assert said == stopped, err
    assert any(p.name.endswith(f"step={said}.ckpt") for p in (tmp_path / "logs" / config).rglob("*.ckpt")), err
    # The checkpoint holds exactly the weights after `stopped` complete updates, no half step.
    saved = list(ckpt["state_dict"].values())
    assert all(torch.equal(a, b) for a, b in zip(saved, oracle_weights(config, stopped), strict=True))

    fit(tmp_path, config, f"--trainer.max_steps={stopped + 50}", "--ckpt_path=last")
    resumed = list(last_ckpt(tmp_path, config)["state_dict"].values())
    assert all(torch.equal(a, b) for a, b in zip(resumed, oracle_weights(config, stopped + 50), strict=True))
