"""Process-group awareness: the only module that knows about torch.distributed.

A :class:`Strategy` tells the loop how many processes share the work and how to agree on
things. :class:`LocalStrategy` is the single-process default: every method is free.
:class:`DataParallelStrategy` runs the same ``fit`` on every rank of a ``torch.distributed``
process group (one started by ``torchrun``, or one the user initialised):

* each rank trains on its shard of the data (``batch_size`` is per rank) and the module is
  wrapped in ``DistributedDataParallel``, so gradients are averaged over the global batch;
* epoch logs and ``evaluate`` results are reduced over the ranks (sums and counts of every
  metric), so every rank's callbacks see the same numbers and take the same decisions;
* ``model.stop_training`` set on any rank is agreed on by all ranks (see :meth:`any_flag`);
* callbacks with ``main_process_only = True`` run on rank 0 only.

Batch logs (``on_*_batch_end``) are the rank's own running means: reducing them would need
every rank to read them at the same batch, and only some ranks have batch hooks (the
progress bar lives on rank 0).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from epochal.metrics import Metric

__all__ = [
    "DataParallelStrategy",
    "LocalStrategy",
    "Strategy",
    "any_rank",
    "barrier",
    "current_strategy",
]


class Strategy:
    """How a run is spread over processes. Methods must be called on every rank alike."""

    rank = 0
    world_size = 1
    local_rank = 0

    @property
    def is_main_process(self) -> bool:
        return self.rank == 0

    def wrap_module(self, module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        """The module the training step calls (a DDP wrapper when distributed)."""
        return module

    def any_flag(self, flag: bool) -> bool:
        """Whether ``flag`` is true on any rank (used to agree on ``stop_training``)."""
        return self.any_flags(flag)[0]

    def agree_flag(self, flag: bool) -> bool:
        """Like :meth:`any_flag`, answered now (at epoch ends: nothing follows to wait on)."""
        return self.agree_flags(flag)[0]

    def any_flags(self, *flags: bool) -> tuple[bool, ...]:
        """:meth:`any_flag` for several flags at once (``stop_training``, an interrupt)."""
        return tuple(bool(f) for f in flags)

    def agree_flags(self, *flags: bool) -> tuple[bool, ...]:
        """:meth:`agree_flag` for several flags at once."""
        return tuple(bool(f) for f in flags)

    def all_gather_object(self, obj: Any) -> list[Any]:
        """Every rank's ``obj`` (picklable), in rank order, on every rank."""
        return [obj]

    def broadcast_object(self, obj: Any) -> Any:
        """Rank 0's ``obj`` (picklable), on every rank."""
        return obj

    def reduce_metrics(self, metrics: list[Metric]) -> list[Metric]:
        """Merges the metric accumulators of every rank (sums and counts)."""
        return metrics

    def broadcast_seed(self, seed: int) -> int:
        return seed

    def average(self, values: list[float]) -> list[float]:
        """The mean over the ranks of each of ``values`` (same length on every rank)."""
        return list(values)

    def sync_gradients(self, grads: list[torch.Tensor]) -> None:
        """Averages ``grads`` over the ranks, in place (a step DDP does not wrap)."""

    def broadcast_module(self, module: torch.nn.Module) -> None:
        """Gives every rank rank 0's parameters and buffers (what DDP does when it wraps)."""

    def barrier(self) -> None:
        """Waits for every rank."""

    def shard(self, source: Any, *, pad: bool) -> Any:
        """Restricts a data source to this rank's share (``pad``: even out the shards)."""
        return source

    def gather_predictions(self, outputs: Any) -> Any:
        """Every rank's predictions, in input order (numpy)."""
        return outputs


class LocalStrategy(Strategy):
    """One process: nothing to share."""


class DataParallelStrategy(Strategy):
    """Data parallelism over the default ``torch.distributed`` process group.

    Small agreements (the stop flag, the data seed, barriers) travel over a CPU (gloo)
    group, so they never wait for the accelerator's queue; metric sums travel over the
    default group, on the device where they live.
    """

    def __init__(self) -> None:
        self.rank = dist.get_rank()
        self.world_size = dist.get_world_size()
        self.local_rank = int(os.environ.get("LOCAL_RANK", self.rank))
        self.backend = dist.get_backend()
        self._cpu_group = None if self.backend == "gloo" else dist.new_group(backend="gloo")
        if self.backend == "nccl":
            torch.cuda.set_device(self.local_rank)
        self._pending: tuple[Any, torch.Tensor] | None = None
        self._carried: tuple[bool, ...] = ()
        self._wrapped: dict[int, torch.nn.Module] = {}
        self._split_last = False
        self._group = dist.group.WORLD

    # ------------------------------------------------------------------ training
    def wrap_module(self, module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        from torch.nn.parallel import DistributedDataParallel

        wrapped = self._wrapped.get(id(module))
        if wrapped is None or wrapped.module is not module:
            if not any(p.requires_grad for p in module.parameters()):
                return module
            ids = None
            if device.type == "cuda":
                ids = [device.index if device.index is not None else torch.cuda.current_device()]
            # The constructor broadcasts rank 0's weights: every rank starts from the same model.
            wrapped = DistributedDataParallel(module, device_ids=ids)
            self._wrapped[id(module)] = wrapped
        return wrapped

    def any_flag(self, flag: bool) -> bool:
        """Whether ``flag`` was true on any rank one call ago.

        The reduction of this call's flag is only started here and read at the next call, so
        checking the flag after every batch costs no waiting. A ``stop_training`` set during
        batch ``k`` on one rank therefore stops every rank after batch ``k + 1`` (or at the end
        of the epoch, whichever comes first).
        """
        return self.any_flags(flag)[0]

    def any_flags(self, *flags: bool) -> tuple[bool, ...]:
        previous = self._take_pending(len(flags))
        tensor = torch.tensor([1 if f else 0 for f in flags], dtype=torch.int32)
        work = dist.all_reduce(tensor, op=dist.ReduceOp.MAX, group=self._cpu_group, async_op=True)
        self._pending = (work, tensor)
        return previous

    def agree_flags(self, *flags: bool) -> tuple[bool, ...]:
        pending = self._take_pending(len(flags))
        tensor = torch.tensor([1 if f else 0 for f in flags], dtype=torch.int32)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX, group=self._cpu_group)
        return tuple(p or bool(v) for p, v in zip(pending, tensor.tolist(), strict=True))

    def _take_pending(self, count: int) -> tuple[bool, ...]:
        """The flags of the reduction in flight (or-ed with any not yet asked about), ``count``
        of them; a flag beyond ``count`` is kept for the next question, never dropped."""
        values = list(self._carried)
        self._carried = ()
        if self._pending is not None:
            work, tensor = self._pending
            self._pending = None
            work.wait()
            done = [bool(v) for v in tensor.tolist()]
            size = max(len(done), len(values))
            done += [False] * (size - len(done))
            values += [False] * (size - len(values))
            values = [a or b for a, b in zip(values, done, strict=True)]
        if any(values[count:]):
            self._carried = tuple([False] * count + values[count:])
        return tuple(values[i] if i < len(values) else False for i in range(count))

    def all_gather_object(self, obj: Any) -> list[Any]:
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, obj, group=self._cpu_group)
        return gathered

    def broadcast_object(self, obj: Any) -> Any:
        box = [obj if self.rank == 0 else None]
        dist.broadcast_object_list(box, src=0, group=self._cpu_group)
        return box[0]

    def reduce_metrics(self, metrics: list[Metric]) -> list[Metric]:
        """Sums every metric's state (totals, counts, confusion counts) over the ranks.

        One collective for all metrics; a metric never updated on a rank contributes zeros.
        A metric with a ``reduce_across(collectives)`` method (a
        :class:`~epochal.metrics.TorchMetric`: torchmetrics' states by their declared
        ``dist_reduce_fx``) merges itself through :meth:`all_reduce_tensors` and
        :meth:`all_gather_tensor`.
        """
        summed = []
        for metric in metrics:
            reduce_across = getattr(metric, "reduce_across", None)
            if callable(reduce_across):
                reduce_across(self)
            else:
                summed.append(metric)
        self._sum_states(summed)
        return metrics

    def _collective_device(self) -> torch.device:
        if self.backend == "nccl":
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")

    def all_reduce_tensors(self, tensors: list[torch.Tensor], op: str) -> list[torch.Tensor]:
        """Each of ``tensors`` reduced over the ranks (``op``: ``"sum"``, ``"max"`` or
        ``"min"``) in one collective, each back on its device in its dtype (float64 on the
        wire: integer counts stay exact up to 2**53)."""
        ops = {"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX, "min": dist.ReduceOp.MIN}
        if op not in ops:
            raise ValueError(f"`op` must be one of {sorted(ops)}. Received: {op!r}")
        if not tensors:
            return []
        device = self._collective_device()
        flat = [t.detach().to(device, torch.float64).reshape(-1) for t in tensors]
        buffer = torch.cat(flat)
        dist.all_reduce(buffer, op=ops[op])
        chunks = buffer.split([f.numel() for f in flat])
        return [
            chunk.reshape(t.shape).to(t.device, t.dtype)
            for chunk, t in zip(chunks, tensors, strict=True)
        ]

    def all_gather_tensor(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        """Every rank's ``tensor`` in rank order, on this tensor's device; the first axis
        may differ per rank (padded on the wire), the other axes and the dtype may not."""
        device = self._collective_device()
        local = tensor.detach().to(device)
        if local.dim() == 0:
            gathered = [torch.empty_like(local) for _ in range(self.world_size)]
            dist.all_gather(gathered, local)
            return [g.to(tensor.device) for g in gathered]
        size = torch.tensor([local.shape[0]], dtype=torch.int64, device=device)
        sizes = [torch.empty_like(size) for _ in range(self.world_size)]
        dist.all_gather(sizes, size)
        counts = [int(s.item()) for s in sizes]
        longest = max(counts)
        padded = local.new_zeros((longest, *local.shape[1:]))
        padded[: local.shape[0]] = local
        gathered = [torch.empty_like(padded) for _ in range(self.world_size)]
        dist.all_gather(gathered, padded)
        return [g[:n].to(tensor.device) for g, n in zip(gathered, counts, strict=True)]

    def _sum_states(self, metrics: list[Metric]) -> None:
        device = self._collective_device()
        for metric in metrics:
            metric.flush()  # deferred per-step values differ in number across ranks
        states = [m.state_dict() for m in metrics]
        flat = [
            torch.as_tensor(v, dtype=torch.float64).reshape(-1)
            for state in states
            for v in state.values()
        ]
        if not flat:
            return
        sizes = [t.numel() for t in flat]
        buffer = torch.cat([t.to(device) for t in flat])
        dist.all_reduce(buffer, op=dist.ReduceOp.SUM)
        chunks = iter(buffer.split(sizes))
        for metric, state in zip(metrics, states, strict=True):
            merged = {}
            for key, value in state.items():
                chunk = next(chunks)
                shape = value.shape if isinstance(value, torch.Tensor) else ()
                home = value.device if isinstance(value, torch.Tensor) else device
                # integer counts (IoU's confusion matrix) stay integers: exact in float64
                kind = torch.float32
                if isinstance(value, torch.Tensor) and not value.is_floating_point():
                    kind = value.dtype
                merged[key] = chunk.reshape(shape).to(home, kind)
            metric.load_state_dict(merged)

    def average(self, values: list[float]) -> list[float]:
        if not values:
            return []
        tensor = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM, group=self._cpu_group)
        return (tensor / self.world_size).tolist()

    def sync_gradients(self, grads: list[torch.Tensor]) -> None:
        # One collective over a flat buffer (as DDP's buckets, without the overlap).
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat /= self.world_size
        for grad, chunk in zip(grads, flat.split([g.numel() for g in grads]), strict=True):
            grad.copy_(chunk.view_as(grad))

    def broadcast_module(self, module: torch.nn.Module) -> None:
        with torch.no_grad():
            for tensor in module.state_dict(keep_vars=True).values():
                if isinstance(tensor, torch.Tensor):
                    dist.broadcast(tensor.data if tensor.requires_grad else tensor, src=0)

    def broadcast_seed(self, seed: int) -> int:
        tensor = torch.tensor([seed], dtype=torch.int64)
        dist.broadcast(tensor, src=0, group=self._cpu_group)
        return int(tensor.item())

    def barrier(self) -> None:
        dist.barrier(group=self._cpu_group)

    # ------------------------------------------------------------------ data
    def shard(self, source: Any, *, pad: bool) -> Any:
        """Gives this rank every ``world_size``-th sample of each pass's order.

        Training (``pad=True``) repeats the first samples of the order so every rank has the
        same number of batches (as ``DistributedSampler``); evaluation and prediction do not
        pad, so no sample is counted twice.
        """
        from epochal.data import shard_source

        self._split_last = shard_source(source, self.rank, self.world_size, pad=pad)
        if not self._split_last:
            warnings.warn(
                f"{type(getattr(source, 'iterable', source)).__name__} inputs cannot be split "
                "between processes by epochal: every rank iterates the batches its own input "
                "yields. Shard the data yourself (e.g. a DistributedSampler), and give every "
                "rank the same number of batches.",
                stacklevel=3,
            )
        return source

    def gather_predictions(self, outputs: Any) -> Any:
        """Interleaves the ranks' outputs back into input order (rank ``r`` has ``r::W``)."""
        if not self._split_last:
            return outputs
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, outputs, group=self._cpu_group)
        return _interleave(gathered)


def _interleave(parts: list[Any]) -> Any:
    first = parts[0]
    if isinstance(first, list | tuple):
        return type(first)(_interleave([p[i] for p in parts]) for i in range(len(first)))
    if isinstance(first, dict):
        return {k: _interleave([p[k] for p in parts]) for k in first}
    arrays = [np.asarray(p) for p in parts]
    total = sum(len(a) for a in arrays)
    out = np.empty((total, *arrays[0].shape[1:]), dtype=arrays[0].dtype)
    for rank, array in enumerate(arrays):
        out[rank :: len(arrays)] = array
    return out


_STRATEGY: DataParallelStrategy | None = None


def _init_from_environment() -> bool:
    """Initialises the default process group from torchrun's variables, when there are some."""
    env = os.environ
    if not dist.is_available() or int(env.get("WORLD_SIZE", "1")) <= 1 or "MASTER_ADDR" not in env:
        return False
    backend = "nccl" if torch.cuda.is_available() and dist.is_nccl_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(env.get("LOCAL_RANK", "0")))
    if "TORCHELASTIC_RESTART_COUNT" in env:
        dist.init_process_group(backend=backend, **_attempt_store(env))
    else:
        dist.init_process_group(backend=backend)
    return True


def _attempt_store(env: Mapping[str, str]) -> dict[str, Any]:
    """torchrun's store, with keys private to this restart attempt.

    After ``--max-restarts`` restarts the group, the workers of the new attempt share the
    agent's store with the dead ones; without a per-attempt prefix, gloo reads the dead
    workers' addresses and fails to connect.
    """
    rank, world_size = int(env["RANK"]), int(env["WORLD_SIZE"])
    agent_hosts_store = env.get("TORCHELASTIC_USE_AGENT_STORE") == "True"
    store = dist.TCPStore(
        env["MASTER_ADDR"],
        int(env["MASTER_PORT"]),
        world_size,
        is_master=not agent_hosts_store and rank == 0,
        timeout=timedelta(seconds=int(env.get("EPOCHAL_STORE_TIMEOUT", "900"))),
        wait_for_workers=False,
    )
    prefixed = dist.PrefixStore(f"epochal/attempt_{env['TORCHELASTIC_RESTART_COUNT']}", store)
    return {"store": prefixed, "rank": rank, "world_size": world_size}


def current_strategy() -> Strategy:
    """The strategy for this process: distributed when a process group is initialised.

    Under ``torchrun`` (``WORLD_SIZE > 1``) the default process group is created on first
    use: NCCL when CUDA is available, else gloo. A group of one process trains locally.
    """
    global _STRATEGY
    if not dist.is_available():
        return LocalStrategy()
    if not dist.is_initialized() and not _init_from_environment():
        return LocalStrategy()
    if dist.get_world_size() <= 1:
        return LocalStrategy()
    if _STRATEGY is None or _STRATEGY._group is not dist.group.WORLD:
        _STRATEGY = DataParallelStrategy()
    return _STRATEGY


def barrier() -> None:
    """Waits until every rank gets here (nothing to wait for in a single process).

    Use it where other ranks must wait for a file that rank 0 writes.
    """
    current_strategy().barrier()


def any_rank(flag: bool) -> bool:
    """Whether ``flag`` is true on any rank, answered now. Every rank must call it alike.

    For callbacks that must agree on a local event (a signal, a file) at an epoch boundary.
    """
    return current_strategy().agree_flag(flag)
