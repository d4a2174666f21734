"""AsyncWriter: private host snapshots, one write in flight, errors on the training thread;
and the streamed state files it writes."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from safetensors.torch import load as st_load

from epochal.saving import state_file as _state_io
from epochal.saving.async_writer import AsyncWriter, BackgroundWriteError


def test_host_copy_is_private_and_reuses_its_buffers():
    writer = AsyncWriter("test")
    live = {"w": torch.ones(3), "nested": [torch.zeros(2), (1, "a")], "arr": np.ones(2)}
    first = writer.host_copy(live)
    live["w"].add_(1)
    live["arr"] += 1
    assert torch.equal(first["w"], torch.ones(3)) and first["arr"].tolist() == [1.0, 1.0]
    assert first["nested"][1] == (1, "a") and isinstance(first["nested"][1], tuple)
    second = writer.host_copy(live)
    assert second["w"].data_ptr() == first["w"].data_ptr()  # the same buffer, refilled
    assert torch.equal(second["w"], torch.full((3,), 2.0))
    live["w"] = torch.ones(4)  # another shape: a new buffer
    assert writer.host_copy(live)["w"].shape == (4,)


def test_a_failed_write_is_raised_once_naming_the_file(tmp_path):
    writer = AsyncWriter("Owner")
    target = tmp_path / "f.bin"

    def fail():
        raise OSError(28, "No space left on device")

    writer.submit(target, fail)
    with pytest.raises(
        BackgroundWriteError, match=r"Owner: the background write of .*f\.bin"
    ) as info:
        writer.wait()
    assert isinstance(info.value.__cause__, OSError) and info.value.path == str(target)
    writer.check()  # reported once
    writer.submit(target, fail)
    writer.wait(raise_errors=False)  # dropped: fit is already unwinding from another error
    writer.check()


def test_one_write_in_flight_and_submit_waits_for_it(tmp_path):
    writer = AsyncWriter("test")
    release, started, order = threading.Event(), threading.Event(), []

    def slow():
        started.set()
        assert release.wait(30)
        order.append("first")

    writer.submit(tmp_path / "a", slow)
    assert started.wait(30)
    assert writer.in_flight == tmp_path / "a"
    waiter = threading.Thread(
        target=lambda: writer.submit(tmp_path / "a", lambda: order.append("second"))
    )
    waiter.start()
    release.set()
    waiter.join(30)
    writer.wait()
    assert order == ["first", "second"] and writer.writes == 2 and writer.in_flight is None


def test_streamed_state_files_read_back_with_every_dtype(tmp_path):
    state = {
        "f32": torch.randn(3, 2),
        "bf16": torch.randn(4).to(torch.bfloat16),
        "bool": torch.tensor([True, False]),
        "i64": torch.tensor(7),
        "empty": torch.zeros(0, 3),
        "view": torch.arange(10.0)[::2],
        "np": np.arange(3, dtype=np.int32),
        "meta": {"epoch": 2, "nan": float("nan")},
    }
    path = _state_io.write_state(tmp_path / "s.safetensors", state, [["w", [1], "float32"]])
    back = _state_io.read_state(path)
    for key in ("f32", "bf16", "bool", "i64", "empty", "view"):
        assert torch.equal(back[key], state[key]) and back[key].dtype == state[key].dtype
    assert back["np"].tolist() == [0, 1, 2] and back["meta"]["epoch"] == 2
    assert np.isnan(back["meta"]["nan"])
    assert len(st_load(path.read_bytes())) == 7  # safetensors itself parses the file
    # The streamed file and safetensors' own encoding hold the same entries and metadata.
    same = _state_io.decode_state(_state_io.encode_state(state, [["w", [1], "float32"]]))
    assert torch.equal(same["f32"], back["f32"])


def test_a_cpu_snapshot_needs_no_event_and_its_buffers_are_plain_memory(tmp_path):
    writer = AsyncWriter("test")
    snapshot = writer.host_copy({"w": torch.ones(4)})
    assert not snapshot["w"].is_pinned() and writer._copies == []
    writer.copies_done()  # nothing to wait for
    seen = []
    writer.submit(tmp_path / "f", lambda: seen.append(snapshot["w"].sum().item()))
    writer.wait()
    assert seen == [4.0]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_cuda_snapshot_lands_in_reused_pinned_buffers_before_the_write_reads_it(tmp_path):
    writer = AsyncWriter("test")
    live = {"w": torch.arange(1 << 20, dtype=torch.float32, device="cuda"), "n": 3}
    seen: list[float] = []
    for round_ in range(3):
        live["w"].add_(1.0)  # queued on the current stream, before the copy
        expected = float(live["w"].sum().item())
        snapshot = writer.host_copy(live)
        assert snapshot["w"].device.type == "cpu" and snapshot["w"].is_pinned()
        assert len(writer._copies) == 1  # one event for the device, nothing waited for yet
        if round_ == 0:
            first_ptr = snapshot["w"].data_ptr()
        assert snapshot["w"].data_ptr() == first_ptr  # the same page-locked buffer, refilled
        live["w"].mul_(0.0)  # a later step: must not reach the snapshot
        writer.submit(tmp_path / "f", lambda s=snapshot: seen.append(float(s["w"].sum())))
        writer.wait()
        assert seen[-1] == expected
        live["w"].copy_(torch.arange(1 << 20, dtype=torch.float32, device="cuda"))
    writer.host_copy(live)
    writer.copies_done()
    assert writer._copies == []


def test_unsigned_and_float8_states_are_streamed_too(tmp_path, monkeypatch):
    # numpy's random state is uint32: every backup holds one, and must take the streamed
    # path (a fallback to safetensors' own encoder copies the whole state in memory).
    state = {
        "u32": torch.tensor([1, 2**31 + 5]).to(torch.uint32),
        "u16": torch.tensor([65000]).to(torch.uint16),
        "u64": torch.tensor([3]).to(torch.uint64),
        "np_u32": np.array([4_000_000_000], dtype=np.uint32),
        "f8": torch.ones(3).to(torch.float8_e4m3fn),
    }

    def refuse(*args, **kwargs):
        raise AssertionError("the whole-in-memory fallback was used")

    monkeypatch.setattr(_state_io, "encode_state", refuse)
    path = _state_io.write_state(tmp_path / "s.safetensors", state)
    back = _state_io.read_state(path)
    for key in ("u32", "u16", "u64", "f8"):
        assert back[key].dtype == state[key].dtype
        assert back[key].view(torch.uint8).tolist() == state[key].view(torch.uint8).tolist()
    assert back["np_u32"].tolist() == [4_000_000_000] and back["np_u32"].dtype == np.uint32
