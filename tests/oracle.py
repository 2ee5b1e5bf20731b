"""Independent oracles: the notebook's own loops in plain torch, seeded like our runs.

Nothing here imports xor_lightning; the tests compare the package against these transcriptions.
"""

from __future__ import annotations

import itertools

import torch

X = torch.FloatTensor([[0, 0], [0, 1], [1, 0], [1, 1]])
Y = torch.FloatTensor([[0], [1], [1], [0]])


def notebook_nn(hidden_sizes: list[int], steps: int, seed: int = 777, lr: float = 1.0):
    """Cells "xor-nn" / "xor-nn-wide-deep": returns (cost per step, final model)."""
    torch.manual_seed(seed)
    sizes = [2, *hidden_sizes, 1]
    linears = [torch.nn.Linear(i, o, bias=True) for i, o in itertools.pairwise(sizes)]
    sigmoid = torch.nn.Sigmoid()
    model = torch.nn.Sequential(*[m for lin in linears for m in (lin, sigmoid)])
    criterion = torch.nn.BCELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    costs = []
    for _step in range(steps):
        optimizer.zero_grad()
        hypothesis = model(X)
        cost = criterion(hypothesis, Y)
        cost.backward()
        optimizer.step()
        costs.append(cost.detach())
    return torch.stack(costs), model


def notebook_backprop(steps: int, seed: int = 777, learning_rate: float = 1.0):
    """The first cell, line for line, with torch.randn in place of uninitialised memory.

    Returns (cost per step, {"w1": .., "b1": .., "w2": .., "b2": ..}).
    """
    torch.manual_seed(seed)
    w1 = torch.randn(2, 2)
    b1 = torch.randn(2)
    w2 = torch.randn(2, 1)
    b2 = torch.randn(1)

    def sigmoid(x):
        return 1.0 / (1.0 + torch.exp(-x))

    def sigmoid_prime(x):
        return sigmoid(x) * (1 - sigmoid(x))

    costs = []
    for _step in range(steps):
        l1 = torch.add(torch.matmul(X, w1), b1)
        a1 = sigmoid(l1)
        l2 = torch.add(torch.matmul(a1, w2), b2)
        Y_pred = sigmoid(l2)
        cost = -torch.mean(Y * torch.log(Y_pred) + (1 - Y) * torch.log(1 - Y_pred))
        d_Y_pred = (Y_pred - Y) / (Y_pred * (1.0 - Y_pred) + 1e-7)
        d_l2 = d_Y_pred * sigmoid_prime(l2)
        d_b2 = d_l2
        d_w2 = torch.matmul(torch.transpose(a1, 0, 1), d_b2)
        d_a1 = torch.matmul(d_b2, torch.transpose(w2, 0, 1))
        d_l1 = d_a1 * sigmoid_prime(l1)
        d_b1 = d_l1
        d_w1 = torch.matmul(torch.transpose(X, 0, 1), d_b1)
        w1 = w1 - learning_rate * d_w1
        b1 = b1 - learning_rate * torch.mean(d_b1, 0)
        w2 = w2 - learning_rate * d_w2
        b2 = b2 - learning_rate * torch.mean(d_b2, 0)
        costs.append(cost)
    return torch.stack(costs), {"w1": w1, "b1": b1, "w2": w2, "b2": b2}
