"""`make train-backprop`'s chunks through the CLI: validation on its steps, refusals in one line."""

from tests.conftest import REPO, assert_refused_in_one_line, run_cli, tree
from tests.oracle import notebook_backprop
from tests.test_cli_end_to_end import STEP_LINE, scalars

CONFIG = str(REPO / "configs/xor_backprop.yaml")


def test_validation_runs_at_each_epoch_end_and_logs_the_printed_cost(tmp_path):
    result = run_cli("fit", "-c", CONFIG, "--data.steps_per_epoch=200", "--trainer.max_steps=401", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    printed = {int(m.group(1)): m.group(2) for m in map(STEP_LINE.match, result.stdout.splitlines()) if m}
    oracle, _ = notebook_backprop(401)
    assert printed == {s: repr(oracle[s].item()) for s in range(0, 401, 100)}
    tags = scalars(tmp_path / "logs/xor_backprop/version_0")
    # val_loss at step s: the weights after s updates, those the printed cost of step s sees.
    assert [s for s, _ in tags["val_loss"]] == [200, 400]
    assert [v for _, v in tags["val_loss"]] == [float(printed[s]) for s in (200, 400)]
    assert [s for s, _ in tags["train_loss"]] == [0, 100, 200, 300, 400]
    assert [s for s, _ in tags["grad_norm/layer1.weight"]] == [0, 100, 200, 300, 400]


def test_autograd_module_refuses_chunks_before_writing_anything(tmp_path):
    before = tree(tmp_path)
    result = run_cli("fit", "-c", str(REPO / "configs/xor_nn.yaml"), "--data.updates_per_batch=100", cwd=tmp_path)
    assert_refused_in_one_line(result, "data.updates_per_batch 100: XORClassifier takes one update per batch")
    assert tree(tmp_path) == before


def test_a_batch_counted_validation_interval_is_refused_with_chunks(tmp_path):
    result = run_cli("fit", "-c", CONFIG, "--trainer.val_check_interval=50", cwd=tmp_path)
    assert_refused_in_one_line(result, "trainer.val_check_interval 50 counts batches")
    assert not (tmp_path / "logs").exists()
