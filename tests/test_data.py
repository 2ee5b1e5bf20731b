import lightning as L
import torch

from xor_lightning.backprop_fast import ChunkedStream, aligned_chunk
from xor_lightning.data import XORDataModule, xor_truth_table
from xor_lightning.inspection import GradientNorms
from xor_lightning.report import NotebookReport


def test_truth_table_is_xor_in_notebook_order():
    X, Y = xor_truth_table()
    assert X.dtype == Y.dtype == torch.float32
    assert X.shape == (4, 2) and Y.shape == (4, 1)
    assert X.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert Y.flatten().tolist() == [float(int(a) ^ int(b)) for a, b in X.tolist()]


def test_training_stream_yields_the_full_batch_every_step():
    dm = XORDataModule()
    X, Y = xor_truth_table()
    it = iter(dm.train_dataloader())
    for _ in range(3):
        xb, yb = next(it)
        assert torch.equal(xb, X) and torch.equal(yb, Y)


def test_val_test_predict_serve_one_batch_of_four():
    dm = XORDataModule()
    X, Y = xor_truth_table()
    for loader in (dm.val_dataloader(), dm.test_dataloader(), dm.predict_dataloader()):
        batches = list(loader)
        assert len(batches) == 1
        assert torch.equal(batches[0][0], X) and torch.equal(batches[0][1], Y)


def chunk_sizes(start: int, chunk: int, steps_per_epoch: int = 1000) -> list[int]:
    X, Y = xor_truth_table()
    stream = ChunkedStream(X, Y, steps_per_epoch, lambda: (start, chunk))
    sizes = []
    for xb, yb in stream:
        assert xb.shape == (len(xb), 4, 2) and yb.shape == (len(xb), 4, 1)
        assert xb.stride(0) == 0 and xb.data_ptr() == X.data_ptr()  # a view: n updates, no copy
        assert torch.equal(xb[-1], X) and torch.equal(yb[0], Y)
        sizes.append(len(xb))
    return sizes


def test_chunks_end_on_the_interval_and_the_epoch_end_from_any_start():
    assert chunk_sizes(0, 100) == [100] * 10
    assert chunk_sizes(1234, 100) == [66] + [100] * 7  # a resume: realign, stop at the epoch end (2000)
    assert chunk_sizes(970, 30) == [20, 10]  # 990 is on the interval, 1000 ends the epoch


def test_the_chunk_divides_every_callback_interval_and_the_epoch():
    trainer = L.Trainer(callbacks=[NotebookReport(every_n_steps=60), GradientNorms(every_n_steps=40)], logger=False)
    assert aligned_chunk(trainer, 100, 1000) == 20
    assert aligned_chunk(None, 100, 300) == 100
    dm = XORDataModule(updates_per_batch=7)
    assert dm.chunk_position() == (0, 1)  # gcd(7, 1000)
    assert isinstance(dm.train_dataloader().dataset, ChunkedStream)
    assert not isinstance(XORDataModule().train_dataloader().dataset, ChunkedStream)  # 1: plain batches, as before
