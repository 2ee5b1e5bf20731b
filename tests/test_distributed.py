"""DDP on two CPU processes (gloo): the four samples split 2 + 2, the same costs as one process."""

import pytest

from tests.conftest import REPO, run_cli
from tests.oracle import notebook_nn
from tests.test_cli_end_to_end import STEP_LINE

DDP = ["--trainer.strategy=ddp", "--trainer.devices=2", "--trainer.accelerator=cpu"]


def test_ddp_on_two_processes_prints_once_and_matches_one_process_to_1e_6(tmp_path):
    config = str(REPO / "configs/xor_nn.yaml")
    result = run_cli("fit", "-c", config, "--trainer.max_steps=301", *DDP, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr
    lines = [m.groups() for m in map(STEP_LINE.match, result.stdout.splitlines()) if m]
    assert [int(step) for step, _ in lines] == [0, 100, 200, 300]  # rank 0 only, once
    assert result.stdout.count("accuracy:") == 1
    oracle, _ = notebook_nn([2], 301)
    # Not bit-identical: each rank sums its half, then gloo averages; the order of additions differs.
    for step, cost in lines:
        assert float(cost) == pytest.approx(oracle[int(step)].item(), abs=1e-6)
    runs = list((tmp_path / "logs/xor_nn").iterdir())
    assert [r.name for r in runs] == ["version_0"]


def test_hand_backprop_refuses_ddp_in_one_line_before_writing(tmp_path):
    config = str(REPO / "configs/xor_backprop.yaml")
    result = run_cli("fit", "-c", config, "--trainer.max_steps=10", *DDP, cwd=tmp_path)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: XORBackpropClassifier trains on one process only"), result.stderr
    assert not (tmp_path / "logs").exists()
