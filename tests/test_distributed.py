"""Distributed training: unit tests of the sharding pieces, then real ``torchrun`` jobs
(2 processes, gloo, loopback only) checked against a single-process run of the same data.

The scenarios live in tests/_dist_worker.py; every rank dumps what its callbacks saw.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import _dist_worker as worker
import numpy as np
import pytest
import torch

import epochal
from epochal.callbacks import Callback, CallbackList
from epochal.data import ArraySource, EpochSampler, IterableSource, shard_order, shard_source
from epochal.distributed import LocalStrategy, _interleave, any_rank, barrier, current_strategy

TESTS = Path(__file__).resolve().parent
SRC = TESTS.parent / "src"
JOB_TIMEOUT = 120  # seconds: a hang fails the test instead of blocking the suite


# ---------------------------------------------------------------------- units (no processes)
def test_shard_order_pads_like_distributed_sampler():
    order = torch.arange(5)
    assert shard_order(order, 0, 2, pad=True).tolist() == [0, 2, 4]
    assert shard_order(order, 1, 2, pad=True).tolist() == [1, 3, 0]
    assert shard_order(order, 1, 2, pad=False).tolist() == [1, 3]
    assert shard_order(torch.arange(1), 2, 3, pad=True).tolist() == [0]


def test_array_source_shards_cover_the_global_batches():
    x = np.arange(16, dtype="float32").reshape(8, 2)
    single = ArraySource(x, batch_size=4, shuffle=True, device=torch.device("cpu"))
    ranks = []
    for rank in range(2):
        source = ArraySource(x, batch_size=2, shuffle=True, device=torch.device("cpu"))
        shard_source(source, rank, 2, pad=True)
        assert source.num_batches == 2
        ranks.append([b[0][:, 0].tolist() for b in source.iterate(7, 3, 0)])
    expected = [b[0][:, 0].tolist() for b in single.iterate(7, 3, 0)]
    for j, batch in enumerate(expected):
        assert sorted(ranks[0][j] + ranks[1][j]) == sorted(batch)


def test_evaluation_shards_do_not_repeat_samples():
    x = np.arange(5, dtype="float32").reshape(5, 1)
    seen = []
    for rank in range(2):
        source = ArraySource(x, batch_size=2, shuffle=False, device=torch.device("cpu"))
        shard_source(source, rank, 2, pad=False)
        seen += [v for b in source.iterate(0, 0, 0) for v in b[0][:, 0].tolist()]
    assert sorted(seen) == [0, 1, 2, 3, 4]


def test_dataloader_gets_a_sharded_epoch_sampler():
    dataset = torch.utils.data.TensorDataset(torch.arange(10.0))
    loader = torch.utils.data.DataLoader(dataset, batch_size=2, shuffle=True)
    source = IterableSource(loader, torch.device("cpu"))
    assert shard_source(source, 1, 2, pad=True)
    assert isinstance(source.sampler, EpochSampler)
    assert source.sampler.shuffle
    assert source.seekable
    assert len(source.iterable) == 3
    values = [v for b in source.iterate(3, 0, 0) for v in b[0].tolist()]
    assert values == shard_order(epochal.data.order_for(10, 3, 0), 1, 2, pad=True).float().tolist()


def test_loader_with_a_distributed_sampler_is_left_alone():
    dataset = torch.utils.data.TensorDataset(torch.arange(10.0))
    sampler = torch.utils.data.DistributedSampler(dataset, num_replicas=2, rank=0)
    loader = torch.utils.data.DataLoader(dataset, batch_size=2, sampler=sampler)
    source = IterableSource(loader, torch.device("cpu"))
    assert shard_source(source, 0, 2, pad=True)
    assert source.iterable is loader


def test_plain_iterables_cannot_be_split():
    source = IterableSource([(torch.ones(2, 1), torch.ones(2))], torch.device("cpu"))
    assert not shard_source(source, 0, 2, pad=False)


def test_interleave_restores_input_order():
    parts = [np.array([[0], [2], [4]]), np.array([[1], [3]])]
    assert _interleave(parts)[:, 0].tolist() == [0, 1, 2, 3, 4]
    nested = _interleave([{"a": parts[0]}, {"a": parts[1]}])
    assert nested["a"][:, 0].tolist() == [0, 1, 2, 3, 4]


def test_single_process_defaults(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    strategy = current_strategy()
    assert isinstance(strategy, LocalStrategy)
    assert (strategy.rank, strategy.world_size, strategy.is_main_process) == (0, 1, True)
    assert any_rank(True)
    assert not any_rank(False)
    barrier()
    model = epochal.Model(torch.nn.Linear(2, 1), device="cpu")
    assert (model.rank, model.world_size, model.is_main_process) == (0, 1, True)


def test_flags_agreed_together_and_none_dropped():
    """DataParallelStrategy's flag agreement, on a one-process gloo group."""
    from epochal.distributed import DataParallelStrategy

    torch.distributed.init_process_group(
        "gloo", store=torch.distributed.HashStore(), rank=0, world_size=1
    )
    try:
        strategy = DataParallelStrategy()
        assert strategy.any_flags(False, True) == (False, False)  # answered one call later
        # A one-flag question takes the stop flag and keeps the interrupt flag for later.
        assert strategy.agree_flag(True) is True
        assert strategy.any_flags(False, False) == (False, True)
        assert strategy.agree_flags(False, False) == (False, False)
        assert strategy.all_gather_object({"a": 1}) == [{"a": 1}]
        assert strategy.broadcast_object([2]) == [2]
    finally:
        torch.distributed.destroy_process_group()


def test_reduce_metrics_keeps_integer_counts_and_float_sums():
    """reduce_metrics on a one-process gloo group: IoU's integer confusion matrix comes back
    as integers, the curve-point metrics' float sums as float32, results unchanged."""
    from epochal import metrics
    from epochal.distributed import DataParallelStrategy

    iou = metrics.MeanIoU(3)
    at = metrics.PrecisionAtRecall(0.5, num_thresholds=9)
    iou.update(torch.tensor([0, 1, 2, 2]), torch.tensor([0, 2, 2, 1]))
    at.update(torch.tensor([0.0, 1.0, 1.0, 0.0]), torch.tensor([0.3, 0.8, 0.4, 0.6]))
    before = [float(iou.result()), float(at.result())]
    torch.distributed.init_process_group(
        "gloo", store=torch.distributed.HashStore(), rank=0, world_size=1
    )
    try:
        DataParallelStrategy().reduce_metrics([iou, at])
    finally:
        torch.distributed.destroy_process_group()
    assert iou.matrix.dtype == torch.int64
    assert at.tp.dtype == torch.float32
    assert [float(iou.result()), float(at.result())] == before


class _Writer(Callback):
    main_process_only = True

    def __init__(self):
        super().__init__()
        self.calls = 0

    def on_epoch_end(self, epoch, logs=None):
        self.calls += 1


class _Other(_Writer):
    main_process_only = False


class _Rank1:
    rank, world_size, is_main_process, history = 1, 2, False, None


def test_callback_list_skips_main_process_only_callbacks_on_other_ranks():
    writer, other = _Writer(), _Other()
    callbacks = CallbackList([writer, other], model=_Rank1())
    callbacks.on_epoch_begin(0)
    callbacks.on_epoch_end(0, {"loss": 1.0})
    assert (writer.calls, other.calls) == (0, 1)
    on_main = _Writer()
    main_list = CallbackList([on_main], model=epochal.Model(torch.nn.Linear(2, 1), device="cpu"))
    main_list.on_epoch_begin(0)
    main_list.on_epoch_end(0)
    assert on_main.calls == 1
    assert epochal.callbacks.ProgbarLogger.main_process_only


def test_the_rank_check_is_made_once_by_the_callback_list_and_kept():
    """A main_process_only callback does not check the rank itself: the list's one check
    must hold after the list changes (History appended after set_model, say)."""
    writer = _Writer()
    callbacks = CallbackList([writer], model=_Rank1())
    callbacks.ensure_history()
    callbacks.on_epoch_begin(0)
    callbacks.on_epoch_end(0, {"loss": 1.0})
    assert writer.calls == 0
    # The writers that used to check again themselves now rely on the list.
    for cls in (
        epochal.callbacks.CSVLogger,
        epochal.callbacks.TensorBoard,
        epochal.callbacks.RemoteMonitor,
    ):
        assert cls.main_process_only


# ---------------------------------------------------------------------- real torchrun jobs
def _torchrun(scenario: str, out: Path, *extra: str, check: bool = True) -> str:
    """Runs the worker under ``torchrun --nproc_per_node=2`` and fails fast on a hang."""
    out.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "PYTHONPATH": f"{SRC}{os.pathsep}{TESTS}",
        "OMP_NUM_THREADS": "1",
        "GLOO_SOCKET_IFNAME": "lo",
    }
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "--monitor-interval=0.2",
        *extra,
        str(TESTS / "_dist_worker.py"),
        scenario,
        str(out),
    ]
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=JOB_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"torchrun job {scenario!r} hung for {JOB_TIMEOUT}s:\n{output[-4000:]}")
    if check and process.returncode != 0:
        pytest.fail(f"torchrun job {scenario!r} failed ({process.returncode}):\n{output[-4000:]}")
    if not check and process.returncode == 0:
        pytest.fail(f"torchrun job {scenario!r} should have failed:\n{output[-4000:]}")
    return output


def _ranks(out: Path, scenario: str) -> list[dict]:
    return [json.loads((out / f"{scenario}.rank{r}.json").read_text()) for r in range(2)]


@pytest.fixture(scope="module")
def parity(tmp_path_factory):
    out = tmp_path_factory.mktemp("parity")
    _torchrun("parity", out)
    return out, _ranks(out, "parity")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The same scenario in this process, with the global batch (2 x per-rank batch)."""
    torch.manual_seed(0)
    return worker.scenario_parity(tmp_path_factory.mktemp("single"), 2 * worker.BATCH_PER_RANK)


def _close(a, b, tol=1e-5) -> bool:
    pairs = zip(a, b, strict=True)
    return all(np.allclose(np.asarray(x), np.asarray(y), atol=tol) for x, y in pairs)


def _logs_close(a: list[dict], b: list[dict], tol=1e-5) -> bool:
    if len(a) != len(b):
        return False
    pairs = zip(a, b, strict=True)
    return all(x.keys() == y.keys() and all(abs(x[k] - y[k]) <= tol for k in x) for x, y in pairs)


@pytest.mark.slow
def test_every_rank_sees_identical_logs(parity):
    _, (rank0, rank1) = parity
    assert rank0["world_size"] == 2
    for key in ("epochs", "tests", "history", "evaluate", "early_stop"):
        assert rank0[key] == rank1[key], key


@pytest.mark.slow
def test_logs_and_weights_match_a_single_process_run_with_the_global_batch(parity, reference):
    _, (rank0, rank1) = parity
    assert _close(rank0["weights"], reference["weights"])
    assert rank0["weights"] == rank1["weights"]
    # Validation has 21 samples: shards of 11 and 10, nothing padded in, nothing counted twice.
    assert _logs_close(rank0["epochs"], reference["epochs"])
    assert _logs_close([rank0["evaluate"]], [reference["evaluate"]])


@pytest.mark.slow
def test_predict_returns_everything_in_input_order_on_every_rank(parity, reference):
    _, (rank0, rank1) = parity
    assert len(rank0["predict"]) == worker.N_VAL
    assert rank0["predict"] == rank1["predict"]
    assert np.allclose(rank0["predict"], reference["predict"], atol=1e-5)


@pytest.mark.slow
def test_dataloaders_are_sharded_like_arrays(parity, reference):
    _, (rank0, _) = parity
    assert _close(rank0["loader_weights"], reference["weights"])


@pytest.mark.slow
def test_early_stopping_on_reduced_logs_stops_all_ranks_on_the_same_epoch(parity, reference):
    _, (rank0, rank1) = parity
    stopped = reference["early_stop"]["stopped_epoch"]
    assert stopped is not None
    assert stopped < 9  # it did stop early in the single process
    assert rank0["early_stop"]["stopped_epoch"] == rank1["early_stop"]["stopped_epoch"] == stopped
    assert len(rank0["early_stop"]["epochs"]) == len(rank1["early_stop"]["epochs"]) == stopped + 1


@pytest.mark.slow
def test_only_rank_0_writes_files(parity):
    out, _ = parity
    written = sorted(p.name for p in out.glob("written_by_*"))
    assert written == [f"written_by_rank0_epoch{e}.txt" for e in range(4)]


@pytest.fixture(scope="module")
def stops(tmp_path_factory):
    out = tmp_path_factory.mktemp("stops")
    _torchrun("stops", out)
    return _ranks(out, "stops")


@pytest.mark.slow
def test_stop_training_on_rank_1_mid_epoch_stops_both_ranks(stops):
    rank0, rank1 = stops
    # Set after batch 2 of epoch 1 on rank 1; agreed one step later (no blocking reduction).
    assert rank0["flag"]["batches"] == rank1["flag"]["batches"] == {"0": 6, "1": 4}
    assert len(rank0["flag"]["epochs"]) == len(rank1["flag"]["epochs"]) == 2


@pytest.mark.slow
def test_nan_on_one_rank_and_sigterm_to_one_rank_stop_every_rank(stops):
    rank0, rank1 = stops
    assert rank0["nan"]["batches"] == rank1["nan"]["batches"] == {"0": 3}
    assert rank0["sigterm"]["batches"] == rank1["sigterm"]["batches"] == {"0": 6, "1": 6, "2": 3}


@pytest.fixture(scope="module")
def resume_reference(tmp_path_factory):
    """The resume scenario run uninterrupted by 2 processes, without BackupAndRestore."""
    out = tmp_path_factory.mktemp("resume_reference")
    _torchrun("resume_reference", out)
    return out, _ranks(out, "resume_reference")


def _assert_same_final_run(out: Path, reference: Path) -> None:
    expected = torch.load(reference / "weights.rank0.pt")
    for rank in range(2):
        final = torch.load(out / f"weights.rank{rank}.pt")
        assert list(final) == list(expected)
        for name in expected:
            assert torch.equal(final[name], expected[name]), f"rank {rank}: {name} differs"
    rows = (out / "training.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows[1:]] == [str(e) for e in range(len(rows) - 1)]
    assert rows == (reference / "training.csv").read_text().splitlines()


@pytest.mark.slow
def test_killed_worker_restarts_and_resumes_mid_epoch_bit_exactly(tmp_path, resume_reference):
    ref_out, (ref0, _) = resume_reference
    assert len(ref0["epochs"]) > 2  # the kill (epoch 2) happens before any early stop
    _torchrun("resume_sigkill", tmp_path, "--max-restarts=1")
    rank0, rank1 = _ranks(tmp_path, "resume_sigkill")
    assert rank0["restarts"] == rank1["restarts"] == 1
    # Killed after batch 4 of epoch 2; the last backup was after batch 2 (save_freq=5):
    # the restarted attempt runs the 3 remaining batches of epoch 2 only.
    assert rank0["batches"]["2"] == rank1["batches"]["2"] == 3
    assert rank0["epochs"] == rank1["epochs"] == ref0["epochs"][2:]
    _assert_same_final_run(tmp_path, ref_out)
    assert not (tmp_path / "backup").exists()  # deleted by the run that completed


@pytest.mark.slow
def test_sigterm_to_one_rank_stops_every_rank_at_the_same_step_and_resumes(
    tmp_path, resume_reference
):
    ref_out, (ref0, _) = resume_reference
    _torchrun("resume_sigterm", tmp_path, check=False)
    stopped = [json.loads((tmp_path / f"interrupted.rank{r}.json").read_text()) for r in range(2)]
    for report in stopped:
        assert report["exit"] == 128 + signal.SIGTERM  # every rank leaves the same way
        # Sent after batch 2 of epoch 1 on rank 1, agreed (without blocking) one step later.
        assert report["position"] == [1, 4]
        assert report["batches"] == {"0": 6, "1": 4}
        assert report["backup_exists"]
    _torchrun("resume_sigterm", tmp_path)  # the same command again: resumes and completes
    rank0, rank1 = _ranks(tmp_path, "resume_sigterm")
    assert rank0["batches"]["1"] == rank1["batches"]["1"] == 2  # the rest of epoch 1
    assert rank0["epochs"] == rank1["epochs"] == ref0["epochs"][1:]
    _assert_same_final_run(tmp_path, ref_out)
