"""`--optimizer` / `--lr_scheduler` through the real CLI: recorded, resumed bit for bit, refused in one line."""

import csv

import pytest
import torch
import yaml

from tests.conftest import REPO, assert_refused_in_one_line, run_cli, tree
from tests.test_resume_and_interrupts import printed

MOMENTUM = ["--optimizer", "torch.optim.SGD", "--optimizer.momentum", "0.9", "--optimizer.lr", "0.5"]


def fit(cwd, *extra):
    args = ["fit", "-c", str(REPO / "configs/xor_nn.yaml"), "--report.every_n_steps=50", *extra]
    result = run_cli(*args, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return result


def ckpt(cwd):
    return torch.load(cwd / "logs/xor_nn/version_0/checkpoints/last.ckpt", weights_only=True)


@pytest.fixture(scope="module")
def resumed(tmp_path_factory):
    straight, split = tmp_path_factory.mktemp("straight"), tmp_path_factory.mktemp("split")
    runs = {"straight": fit(straight, *MOMENTUM, "--trainer.max_steps=200")}
    runs["first"] = fit(split, *MOMENTUM, "--trainer.max_steps=100")
    runs["resumed"] = fit(split, *MOMENTUM, "--trainer.max_steps=200", "--ckpt_path=last")
    return straight, split, runs


def test_momentum_is_recorded_in_config_hparams_and_checkpoint(resumed):
    _, split, _ = resumed
    run = split / "logs/xor_nn/version_0"
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["optimizer"]["class_path"] == "torch.optim.SGD"
    assert config["optimizer"]["init_args"]["momentum"] == 0.9 and config["optimizer"]["init_args"]["lr"] == 0.5
    hparams = yaml.safe_load((run / "hparams.yaml").read_text())
    assert hparams["optimizer"] == "SGD(momentum=0.9)" and hparams["lr"] == 0.5  # --optimizer.lr set the one lr
    state = ckpt(split)
    assert state["optimizer_class"] == "torch.optim.SGD" and state["hyper_parameters"]["lr"] == 0.5
    assert state["optimizer_states"][0]["param_groups"][0]["momentum"] == 0.9


def test_a_momentum_run_resumed_equals_it_run_straight(resumed):
    straight, split, runs = resumed
    assert "Restored all states from the checkpoint" in runs["resumed"].stderr
    assert printed(runs["resumed"]) == {s: c for s, c in printed(runs["straight"]).items() if s >= 100}
    a, b = ckpt(straight), ckpt(split)
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    (x,), (y,) = a["optimizer_states"], b["optimizer_states"]
    assert x["param_groups"] == y["param_groups"] and x["state"].keys() == y["state"].keys()
    assert all(torch.equal(x["state"][i]["momentum_buffer"], y["state"][i]["momentum_buffer"]) for i in x["state"])


def test_test_from_the_momentum_checkpoint_works(resumed):
    _, split, _ = resumed
    result = run_cli("test", "-c", str(REPO / "configs/xor_nn.yaml"), *MOMENTUM, "--ckpt_path=last", cwd=split)
    assert result.returncode == 0, result.stderr
    assert "test_acc" in result.stdout


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ([], "momentum 0.9 (configured: 0)"),  # no --optimizer: the default SGD, momentum 0
        (["--optimizer", "torch.optim.Adam"], "was trained with the optimizer torch.optim.SGD, but the run"),
        (["--optimizer", "torch.optim.SGD", "--optimizer.momentum", "0.8"], "momentum 0.9 (configured: 0.8)"),
        ([*MOMENTUM, "--optimizer.nesterov", "true"], "nesterov False (configured: True)"),
        (
            [*MOMENTUM, "--lr_scheduler", "torch.optim.lr_scheduler.StepLR", "--lr_scheduler.step_size", "10"],
            "lr scheduler none",
        ),
        ([*MOMENTUM[:4], "--optimizer.lr", "0.25"], "with lr 0.5, but the config asks for XORClassifier with lr 0.25"),
    ],
    ids=["default", "adam", "momentum", "nesterov", "scheduler", "lr"],
)
def test_a_resume_with_another_optimizer_is_one_line_exit_2_nothing_written(resumed, extra, expected):
    _, split, _ = resumed
    before = tree(split)
    args = ["fit", "-c", str(REPO / "configs/xor_nn.yaml"), "--trainer.max_steps=300", "--ckpt_path=last", *extra]
    result = run_cli(*args, cwd=split)
    assert_refused_in_one_line(result, expected)
    assert tree(split) == before


def test_optimizer_lr_contradicting_the_model_lr_is_refused(tmp_path):
    args = ["--optimizer", "torch.optim.Adam", "--optimizer.lr", "0.01", "--model.init_args.lr", "0.5"]
    result = run_cli("fit", "-c", str(REPO / "configs/xor_nn.yaml"), *args, cwd=tmp_path)
    assert_refused_in_one_line(result, "--optimizer.lr 0.01 contradicts the model's lr 0.5")
    assert not (tmp_path / "logs").exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--model", "xor_lightning.XORBackpropClassifier", "--optimizer", "torch.optim.Adam"], "builds its own"),
        (["--model", "xor_lightning.XORBackpropClassifier", "--model.activation", "relu"], "sigmoid network"),
        (
            ["--lr_scheduler", "torch.optim.lr_scheduler.StepLR", "--lr_scheduler.step_size", "5"],
            "needs an --optimizer",
        ),
    ],
    ids=["backprop optimizer", "backprop activation", "scheduler alone"],
)
def test_what_cannot_work_is_refused_in_one_line(tmp_path, args, expected):
    result = run_cli("fit", "--trainer.max_steps=5", *args, cwd=tmp_path)
    assert_refused_in_one_line(result, expected)
    assert not (tmp_path / "logs").exists()


def test_optimizer_sgd_named_is_todays_default_bit_for_bit(tmp_path):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    default = fit(tmp_path / "a", "--trainer.max_steps=101")
    named = fit(tmp_path / "b", "--trainer.max_steps=101", "--optimizer", "torch.optim.SGD")
    assert printed(default) == printed(named) and len(printed(default)) == 3
    a, b = ckpt(tmp_path / "a"), ckpt(tmp_path / "b")
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])


def test_the_shipped_cures_study_writes_one_row_per_activation_optimizer_and_lr(tmp_path):
    args = ["-c", str(REPO / "configs/study_cures.yaml"), "--model.init_args.num_copies=2", "--trainer.max_steps=20"]
    result = run_cli("fit", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "logs/study_cures.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    names = [f"{a} {o}" for a in ("sigmoid", "tanh", "relu") for o in ("SGD", "SGD(momentum=0.9)", "Adam")]
    assert [r["architecture"] for r in rows] == [n for n in names for _ in range(3)]
    assert (tmp_path / "logs/study_cures.png").is_file() and not (tmp_path / "logs/study_grid.csv").exists()
    hparams = yaml.safe_load(next((tmp_path / "logs/study_cures").glob("version_0/hparams.yaml")).read_text())
    assert hparams["optimizers"] == ["SGD", "SGD(momentum=0.9)", "Adam"] and hparams["activations"][2] == "relu"


def test_a_study_refuses_the_single_run_optimizer_flag(tmp_path):
    args = ["-c", str(REPO / "configs/study_cures.yaml"), "--optimizer", "torch.optim.Adam"]
    assert_refused_in_one_line(run_cli("fit", *args, cwd=tmp_path), "builds its own optimizer")
    assert not (tmp_path / "logs").exists()


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("optimizer_class", "os.system", "names the optimizer 'os.system'"),
        ("lr_scheduler_class", "builtins.eval", "names the lr scheduler 'builtins.eval'"),
    ],
)
def test_a_checkpoint_naming_another_optimizer_class_is_refused(resumed, tmp_path, key, value, expected):
    _, split, _ = resumed
    state = ckpt(split)
    state[key] = value
    torch.save(state, tmp_path / "edited.ckpt")
    result = run_cli("test", "--ckpt_path", str(tmp_path / "edited.ckpt"), cwd=tmp_path)
    assert_refused_in_one_line(result, expected)


def test_an_invalid_optimizer_setting_is_one_line_before_and_on_resume(resumed, tmp_path):
    bad = ["--optimizer", "torch.optim.SGD", "--optimizer.momentum", "-1"]
    assert_refused_in_one_line(run_cli("fit", "--trainer.max_steps=5", *bad, cwd=tmp_path), "momentum")
    assert not (tmp_path / "logs").exists()
    _, split, _ = resumed
    before = tree(split)
    args = ["fit", "-c", str(REPO / "configs/xor_nn.yaml"), "--ckpt_path=last", *bad]
    assert_refused_in_one_line(run_cli(*args, cwd=split), "Invalid momentum value: -1")
    assert tree(split) == before
