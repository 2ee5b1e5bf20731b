"""Several updates per Lightning batch (XORDataModule(updates_per_batch=K)): every step still the notebook's."""

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from tests.oracle import notebook_backprop
from xor_lightning import NotebookReport, XORBackpropClassifier, XORDataModule


class ChunkRecorder(L.Callback):
    """Every update's cost, and where each batch started and how many updates it made."""

    def __init__(self, stop_at: int | None = None) -> None:
        self.costs: list[torch.Tensor] = []
        self.chunks: list[tuple[int, int]] = []
        self.stop_at = stop_at

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        n = len(outputs["costs"])
        self.costs.append(outputs["costs"].clone())
        self.chunks.append((trainer.global_step - n, n))

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        if trainer.global_step == self.stop_at:  # as Ctrl-C does (StopOnInterrupt), in the middle of a chunk
            trainer.should_stop = True


def fit(tiny_trainer, tmp_path, max_steps, lr=1.0, ckpt_path=None, stop_at=None, **data):
    L.seed_everything(777, verbose=False)
    recorder = ChunkRecorder(stop_at)
    callbacks = [recorder, NotebookReport(every_n_steps=50), ModelCheckpoint(tmp_path, save_last=True)]
    trainer, _ = tiny_trainer(max_steps, callbacks=callbacks, enable_checkpointing=True)
    model = XORBackpropClassifier(hidden_sizes=[2], lr=lr)
    trainer.fit(model, XORDataModule(**{"updates_per_batch": 100, **data}), ckpt_path=ckpt_path, weights_only=True)
    return model, trainer, recorder


def weights(model):
    return [getattr(model, name).detach() for name in ("w1", "b1", "w2", "b2")]


@pytest.mark.parametrize("lr", [1.0, 0.1, 0.7])
def test_chunked_run_is_the_notebook_at_every_step(tiny_trainer, tmp_path, lr, capsys):
    model, trainer, recorder = fit(tiny_trainer, tmp_path, 301, lr=lr, steps_per_epoch=200)
    oracle_costs, oracle_params = notebook_backprop(301, learning_rate=lr)
    assert trainer.global_step == 301
    # Aligned chunks: report every 50 -> chunks of 50, the epoch end (200) a boundary, max_steps cuts the last.
    assert recorder.chunks == [(s, 50) for s in range(0, 300, 50)] + [(300, 1)]
    assert torch.equal(torch.cat(recorder.costs), oracle_costs)
    assert all(torch.equal(a, b) for a, b in zip(weights(model), oracle_params.values(), strict=True))
    printed = [line.split() for line in capsys.readouterr().out.splitlines() if line[:1].isdigit()]
    assert [int(s) for s, _ in printed] == list(range(0, 301, 50))
    assert [c for _, c in printed] == [repr(oracle_costs[int(s)].item()) for s, _ in printed]


def test_resume_from_an_odd_step_equals_the_straight_run(tiny_trainer, tmp_path):
    _, _, first = fit(tiny_trainer, tmp_path, 137)
    assert first.chunks[-1] == (100, 37)  # max_steps stops inside a chunk
    model, _, resumed = fit(tiny_trainer, tmp_path, 400, ckpt_path=tmp_path / "last.ckpt")
    assert resumed.chunks[0] == (137, 13)  # the first chunk realigns on the interval
    assert all(n == 50 and s % 50 == 0 for s, n in resumed.chunks[1:])
    oracle_costs, oracle_params = notebook_backprop(400)
    assert torch.equal(torch.cat(first.costs + resumed.costs), oracle_costs)
    assert all(torch.equal(a, b) for a, b in zip(weights(model), oracle_params.values(), strict=True))


def test_a_stop_request_ends_after_the_current_update_not_the_chunk(tiny_trainer, tmp_path):
    model, trainer, recorder = fit(tiny_trainer, tmp_path, 1000, stop_at=123)
    assert trainer.global_step == 124 and recorder.chunks[-1] == (100, 24)
    oracle_costs, oracle_params = notebook_backprop(124)
    assert torch.equal(torch.cat(recorder.costs), oracle_costs)
    assert all(torch.equal(a, b) for a, b in zip(weights(model), oracle_params.values(), strict=True))
    saved = torch.load(tmp_path / "last.ckpt", weights_only=True)
    assert saved["global_step"] == 124
    assert all(torch.equal(saved["state_dict"][k], v) for k, v in oracle_params.items())


class StepRecorder(L.Callback):
    """Every update's cost, and the weights after every batch, keyed by the global step they are at."""

    def __init__(self) -> None:
        self.costs: list[torch.Tensor] = []
        self.weights: dict[int, list[torch.Tensor]] = {}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.costs.append(outputs.get("costs", outputs["loss"].reshape(1)).detach().clone())
        self.weights[trainer.global_step] = [w.clone() for w in weights(pl_module)]


@pytest.mark.parametrize("mode", ["notebook", "mean"])
@pytest.mark.parametrize("hidden", [[2], [10, 10, 10]])
def test_the_fast_twin_equals_the_readable_step_at_every_step(tiny_trainer, hidden, mode):
    # updates_per_batch 1: XORBackpropClassifier.training_step, the lesson's code (backprop.forward/backward);
    # 100: backprop_fast.chunked_training_step, in place. The same bits at every step, cost and weights.
    runs = {}
    for per_batch in (1, 100):
        L.seed_everything(777, verbose=False)
        recorder = StepRecorder()
        trainer, _ = tiny_trainer(250, callbacks=[recorder])
        trainer.fit(XORBackpropClassifier(hidden, gradient_mode=mode), XORDataModule(updates_per_batch=per_batch))
        runs[per_batch] = recorder
    readable, fast = runs[1], runs[100]
    assert len(readable.costs) == 250 and len(fast.costs) == 3  # one batch per update / chunks of 100, 100, 50
    assert torch.equal(torch.cat(readable.costs), torch.cat(fast.costs))
    assert sorted(fast.weights) == [100, 200, 250]
    for step, fast_weights in fast.weights.items():
        assert all(torch.equal(a, b) for a, b in zip(readable.weights[step], fast_weights, strict=True)), step
