"""The compiled-metrics tracker: lazy batch logs stay true to their batch."""

from __future__ import annotations

import torch

import epochal
from epochal.callbacks import Callback
from epochal.metrics import Metric


class InPlaceSum(Metric):
    """A user metric that updates a tensor in place, as plain PyTorch code does."""

    def __init__(self) -> None:
        super().__init__(name="in_place_sum")
        self.acc = torch.zeros(())

    def update(self, y_true, y_pred, sample_weight=None) -> None:
        self.acc += y_true.sum()  # in place: the same tensor object every batch

    def result(self) -> torch.Tensor:
        return self.acc.clone()

    def reset(self) -> None:
        super().reset()
        self.acc = torch.zeros(())


class KeepBatchLogs(Callback):
    def __init__(self) -> None:
        super().__init__()
        self.logs: list = []

    def on_train_batch_end(self, batch, logs=None):
        self.logs.append(logs)  # read only after fit: the lazy logs must still be batch k's


def test_batch_logs_of_a_metric_updated_in_place_keep_their_own_values():
    torch.manual_seed(0)
    model = epochal.Model(torch.nn.Linear(1, 1), device="cpu")
    model.compile(optimizer="sgd", loss="mse", metrics=[InPlaceSum()])
    x = torch.ones(4, 1)
    y = torch.arange(1.0, 5.0).reshape(4, 1)  # batch sums 1, 2, 3, 4
    keep = KeepBatchLogs()
    model.fit(x, y, batch_size=1, epochs=1, shuffle=False, verbose=0, callbacks=[keep])
    assert [logs["in_place_sum"] for logs in keep.logs] == [1.0, 3.0, 6.0, 10.0]
