"""The study grid: one run for every architecture x lr x seed, sharded over processes without all-reduce."""

import csv
from types import SimpleNamespace

import pytest
import torch

from tests.conftest import REPO, run_cli
from xor_lightning.resources import estimated_bytes
from xor_lightning.studies.copies_module import check_copies_launch
from xor_lightning.studies.grid import XORStudyGrid

CONFIG = str(REPO / "configs/study_grid.yaml")
# 64 copies per process and architecture. The compiled step trains a copy to the same bits wherever it
# sits (tests/test_compiled_twin.py), but the end's evaluation and diagnosis are torch's forward, which
# computes a copy in a SIMD vector's tail with scalar exp/log code: only whole vectors give the same bits.
SMALL = [
    "--trainer.max_steps=300",
    "--model.init_args.num_copies=32",
    "--model.init_args.lr=[0.3, 10.0, 1.0, 3.0]",
    "--model.init_args.architectures=[[2], [10, 10, 10]]",
]
TWO_CPUS = ["--trainer.devices=2", "--trainer.accelerator=cpu"]


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def one_and_two_processes(tmp_path_factory):
    runs = {}
    for n, extra in ((1, []), (2, TWO_CPUS)):
        cwd = tmp_path_factory.mktemp(f"grid{n}")
        result = run_cli("fit", "-c", CONFIG, *SMALL, *extra, cwd=cwd, timeout=300)
        assert result.returncode == 0, result.stderr
        runs[n] = (cwd / "logs", result)
    return runs


def test_two_processes_write_the_same_grid_as_one(one_and_two_processes):
    (one, result), (two, _) = one_and_two_processes[1], one_and_two_processes[2]
    rows1, rows2 = read_csv(one / "study_grid.csv"), read_csv(two / "study_grid.csv")
    assert len(rows1) == 2 * 4 and [r["architecture"] for r in rows1] == [r["architecture"] for r in rows2]
    for r1, r2 in zip(rows1, rows2, strict=True):
        for key in ("lr", "copies", "fraction_solved", "steps_p10", "steps_median", "steps_p90"):
            assert r1[key] == r2[key], (key, r1, r2)  # exact, solved steps included
        for key in [k for k in r1 if k.startswith(("fraction_", "outputs_"))]:  # the failure diagnosis too
            assert r1[key] == r2[key], (key, r1, r2)
        assert r1["mean_final_cost"] == r2["mean_final_cost"]
    copies1 = read_csv(one / "study_grid/version_0/copies.csv")
    copies2 = read_csv(two / "study_grid/version_0/copies.csv")
    assert len(copies1) == 2 * 4 * 32
    for c1, c2 in zip(copies1, copies2, strict=True):
        assert c1["solved_step"] == c2["solved_step"] and c1["seed"] == c2["seed"]
        assert c1["diagnosis"] == c2["diagnosis"] and (c1["diagnosis"] == "solved") == (c1["accuracy"] == "1.0")
        assert c1["final_cost"] == c2["final_cost"]
    assert any(int(c["solved_step"]) > 0 for c in copies1)  # something was learned in 300 steps
    for name in ("study_grid.md", "study_grid.png", "study_grid_failures.png"):
        assert (two / name).stat().st_size > 500
    assert "| 2-2-1 |" in result.stdout and "fraction solved:" in result.stdout


def test_checkpoint_of_a_sharded_run_holds_every_copy(one_and_two_processes):
    (one, _), (two, _) = one_and_two_processes[1], one_and_two_processes[2]
    states = [
        torch.load(logs / "study_grid/version_0/checkpoints/last.ckpt", weights_only=True)["state_dict"]
        for logs in (one, two)
    ]
    assert states[0].keys() == states[1].keys()
    for key, value in states[0].items():
        assert value.shape == states[1][key].shape and value.shape[-1] == 4 * 32, key
        assert torch.equal(value, states[1][key]), key  # bit for bit


def test_ranks_train_their_copies_independently(tmp_path):
    """Rank 0 holds the lr 0.3 copies, rank 1 the lr 10 ones. Were gradients all-reduced (as plain DDP
    does), rank 0's copies would move with rank 1's; they equal a run that has no lr 10 copies at all."""
    common = ["--trainer.max_steps=200", "--model.init_args.num_copies=64", "--model.init_args.architectures=[[3]]"]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    alone = run_cli("fit", "-c", CONFIG, *common, "--model.init_args.lr=[0.3]", cwd=tmp_path / "a")
    paired = run_cli("fit", "-c", CONFIG, *common, "--model.init_args.lr=[0.3, 10.0]", *TWO_CPUS, cwd=tmp_path / "b")
    assert alone.returncode == 0 and paired.returncode == 0, alone.stderr + paired.stderr
    a = read_csv(tmp_path / "a/logs/study_grid/version_0/copies.csv")
    b = read_csv(tmp_path / "b/logs/study_grid/version_0/copies.csv")
    assert [c["lr"] for c in b] == ["0.3"] * 64 + ["10"] * 64
    assert [c["final_cost"] for c in b[:64]] == [c["final_cost"] for c in a]  # bit for bit
    assert [c["final_cost"] for c in b[64:]] != [c["final_cost"] for c in a]


def test_grid_refuses_what_cannot_work():
    with pytest.raises(ValueError, match="lr"):
        XORStudyGrid(architectures=[[2]], lr=[1.0, 0.0], num_copies=2)
    with pytest.raises(ValueError, match="more than this machine can give"):
        XORStudyGrid(architectures=[[10_000]], num_copies=100_000)
    with pytest.raises(ValueError, match="at most"):
        XORStudyGrid(architectures=[[2]], num_copies=10**9)
    assert estimated_bytes([2], 2000) == 2 * estimated_bytes([2], 1000)
    grid = XORStudyGrid(architectures=[[2], []], lr=[0.1, 1.0], num_copies=3)
    with pytest.raises(ValueError, match="evenly"):
        check_copies_launch(SimpleNamespace(world_size=4), grid)  # 6 copies per architecture


def test_progress_counts_every_network_of_every_architecture(capsys, tiny_trainer):
    from xor_lightning import XORDataModule
    from xor_lightning.studies.progress import Progress

    grid = XORStudyGrid(architectures=[[1], [2], [3]], lr=[0.3, 1.0], num_copies=8)
    trainer, _ = tiny_trainer(3, callbacks=[Progress(every_seconds=1e-9)])
    trainer.fit(grid, datamodule=XORDataModule())
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("progress:")]
    assert lines and all("of 48 networks" in line for line in lines)  # 3 architectures x 2 lrs x 8 seeds
