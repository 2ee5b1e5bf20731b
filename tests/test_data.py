import torch

from xor_lightning.data import XORDataModule, xor_truth_table


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
