"""The real LightningCLI driven as a user would: `python -m xor_lightning ...` in a subprocess."""

import re
from pathlib import Path

import pytest
import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.conftest import REPO, run_cli
from tests.oracle import notebook_nn

STEPS = 301
STEP_LINE = re.compile(r"^(\d+) (\S+)$")


def scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    acc = EventAccumulator(str(run_dir))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("cli")
    result = run_cli("fit", "-c", str(REPO / "configs/xor_nn.yaml"), f"--trainer.max_steps={STEPS}", cwd=cwd)
    assert result.returncode == 0, result.stderr
    return cwd, result


def test_fit_prints_one_step_cost_line_per_100_steps_equal_to_the_notebook(fitted):
    _, result = fitted
    lines = [m.groups() for m in map(STEP_LINE.match, result.stdout.splitlines()) if m]
    oracle, _ = notebook_nn([2], STEPS)
    assert [int(step) for step, _ in lines] == [0, 100, 200, 300]
    # The printed text is Python's repr of the float32 cost, as the notebook's print(step, cost.item()).
    assert [cost for _, cost in lines] == [repr(oracle[int(step)].item()) for step, _ in lines]


def test_fit_ends_with_hypothesis_predicted_and_accuracy(fitted):
    _, result = fitted
    out = result.stdout
    assert out.index("hypothesis:") < out.index("predicted:") < out.index("accuracy:")
    assert re.search(r"^accuracy: (0\.\d+|1\.0)$", out, re.M)


def test_fit_writes_tensorboard_train_loss_at_the_printed_steps(fitted):
    cwd, _ = fitted
    run = cwd / "logs/xor_nn/version_0"
    tags = scalars(run)
    oracle, _ = notebook_nn([2], STEPS)
    assert [s for s, _ in tags["train_loss"]] == [0, 100, 200, 300]
    assert [v for _, v in tags["train_loss"]] == [oracle[s].item() for s, _ in tags["train_loss"]]
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["model"]["init_args"]["hidden_sizes"] == [2] and config["seed_everything"] == 777
    hparams = yaml.safe_load((run / "hparams.yaml").read_text())  # safe_load: plain types only
    assert hparams["hidden_sizes"] == [2] and hparams["lr"] == 1.0


def test_checkpoint_holds_the_last_step_and_loads_weights_only(fitted):
    cwd, _ = fitted
    ckpt = torch.load(cwd / "logs/xor_nn/version_0/checkpoints/last.ckpt", weights_only=True)
    assert ckpt["global_step"] == STEPS
    assert ckpt["hyper_parameters"]["hidden_sizes"] == [2]


def test_test_subcommand_from_checkpoint_reports_accuracy_and_logs_it(fitted):
    cwd, _ = fitted
    ckpt = "logs/xor_nn/version_0/checkpoints/last.ckpt"
    result = run_cli("test", "-c", str(REPO / "configs/xor_nn.yaml"), "--ckpt_path", ckpt, cwd=cwd)
    assert result.returncode == 0, result.stderr
    assert "Restoring states from the checkpoint path" in result.stderr
    match = re.search(r"^accuracy: (\S+)$", result.stdout, re.M)
    test_acc = scalars(cwd / "logs/xor_nn/version_0")["test_acc"]  # beside the fit, at its last step
    assert match and float(match.group(1)) == test_acc[0][1]


def test_rerunning_fit_in_the_same_folder_starts_a_new_version(fitted):
    cwd, _ = fitted
    result = run_cli("fit", "-c", str(REPO / "configs/xor_nn.yaml"), "--trainer.max_steps=1", cwd=cwd)
    assert result.returncode == 0, result.stderr
    versions = sorted(p.name for p in (cwd / "logs/xor_nn").iterdir())
    assert len(versions) >= 2 and (cwd / "logs/xor_nn/version_0/checkpoints/last.ckpt").exists()


def test_shipped_config_turns_inspection_on(fitted):
    cwd, _ = fitted
    run = cwd / "logs/xor_nn/version_0"
    tags = scalars(run)
    assert [s for s, _ in tags["grad_norm/layer1.weight"]] == [0, 100, 200, 300]
    acc = EventAccumulator(str(run))
    acc.Reload()
    assert [e.step for e in acc.Images("decision_boundary")] == [0]
    assert "params/layer1.weight" in acc.Tags()["histograms"]
    assert (run / "decision_boundary.png").stat().st_size > 1000


@pytest.mark.parametrize("subcommand", ["validate", "predict"])
def test_validate_and_predict_from_checkpoint(fitted, subcommand):
    cwd, _ = fitted
    ckpt = "logs/xor_nn/version_0/checkpoints/last.ckpt"
    result = run_cli(subcommand, "--ckpt_path", ckpt, cwd=cwd)
    assert result.returncode == 0, result.stderr
    assert re.search(r"^accuracy: (0\.\d+|1\.0)$", result.stdout, re.M)
    if subcommand == "validate":
        assert "val_acc" in result.stdout
