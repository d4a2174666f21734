"""RemoteMonitor against a real HTTP server on loopback: payload bytes, failures, timeouts."""

from __future__ import annotations

import http.server
import json
import threading
import urllib.parse
import warnings

import numpy as np
import pytest
import torch

from epochal.callbacks import RemoteMonitor
from epochal.callbacks.remote_monitor import json_safe


class _Server:
    """A loopback HTTP server recording POSTs; `status` and `hang` script its answers."""

    def __init__(self, status: int = 200, hang: bool = False) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.release = threading.Event()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                owner.requests.append((self.path, dict(self.headers), body))
                if hang:
                    owner.release.wait(10)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.root = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def server_factory():
    servers = []

    def make(**kwargs):
        server = _Server(**kwargs)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def _fit(compiled_model, tiny_data, monitor, epochs=2):
    x, y = tiny_data
    model = compiled_model()
    return model.fit(
        x, y, epochs=epochs, batch_size=10, verbose=0, validation_split=0.25, callbacks=[monitor]
    )


def test_args_validation():
    with pytest.raises(ValueError, match="timeout"):
        RemoteMonitor(timeout=0)
    with pytest.raises(TypeError, match="root"):
        RemoteMonitor(root=9000)
    with pytest.raises(TypeError, match="headers"):
        RemoteMonitor(headers=["x"])
    with pytest.raises(TypeError):
        RemoteMonitor(unknown=1)


def test_form_payload_bytes(server_factory, compiled_model, tiny_data):
    server = server_factory()
    history = _fit(
        compiled_model, tiny_data, RemoteMonitor(root=server.root, headers={"X-Run": "abc"})
    ).history
    assert [r[0] for r in server.requests] == ["/publish/epoch/end/"] * 2
    for epoch, (_, headers, body) in enumerate(server.requests):
        payload = {"epoch": epoch, **{k: history[k][epoch] for k in sorted(history)}}
        expected = urllib.parse.urlencode({"data": json.dumps(payload)}).encode()
        assert body == expected
        assert headers["Content-Type"] == "application/x-www-form-urlencoded"
        assert headers["X-Run"] == "abc"
    # The same bytes `requests` (what Keras uses) puts on the wire for this form.
    requests = pytest.importorskip("requests")
    payload = {"epoch": 0, **{k: history[k][0] for k in sorted(history)}}
    prepared = requests.Request("POST", server.root, data={"data": json.dumps(payload)}).prepare()
    assert server.requests[0][2] == prepared.body.encode()


def test_json_payload_bytes_and_field(server_factory):
    server = server_factory()
    monitor = RemoteMonitor(root=server.root, path="/p", field="ignored", send_as_json=True)
    monitor.on_train_begin({})
    monitor.on_epoch_end(
        3, {"loss": np.float32(0.5), "acc": torch.tensor(0.25), "vec": np.array([1.0, 2.0])}
    )
    path, headers, body = server.requests[0]
    assert path == "/p"
    assert body == b'{"epoch": 3, "loss": 0.5, "acc": 0.25, "vec": [1.0, 2.0]}'
    assert headers["Content-Type"] == "application/json"


def test_json_safe():
    assert json_safe({"a": np.int64(3), "b": torch.ones(2), "c": (np.float64(1.5),)}) == {
        "a": 3,
        "b": [1.0, 1.0],
        "c": [1.5],
    }


def _one_failure_warning(record):
    messages = [str(w.message) for w in record if "RemoteMonitor" in str(w.message)]
    assert len(messages) == 1, messages
    assert "Could not reach RemoteMonitor root server at" in messages[0]


def test_server_down(server_factory, compiled_model, tiny_data):
    server = server_factory()
    root = server.root
    server.close()  # the port answered a moment ago; now nothing listens there
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        history = _fit(compiled_model, tiny_data, RemoteMonitor(root=root), epochs=3)
    assert len(history.history["loss"]) == 3
    _one_failure_warning(record)


def test_server_error_500(server_factory, compiled_model, tiny_data):
    server = server_factory(status=500)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        history = _fit(compiled_model, tiny_data, RemoteMonitor(root=server.root), epochs=3)
    assert len(history.history["loss"]) == 3
    assert len(server.requests) == 3  # every epoch was still sent
    _one_failure_warning(record)
    assert "500" in str(record[0].message)


def test_server_hanging_past_timeout(server_factory, compiled_model, tiny_data):
    server = server_factory(hang=True)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        history = _fit(
            compiled_model, tiny_data, RemoteMonitor(root=server.root, timeout=0.2), epochs=2
        )
    assert len(history.history["loss"]) == 2
    _one_failure_warning(record)


def test_warns_again_in_next_fit():
    def failing(url, body, headers, timeout):
        raise ConnectionRefusedError("refused")

    monitor = RemoteMonitor(sender=failing)
    for _ in range(2):
        monitor.on_train_begin({})
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            monitor.on_epoch_end(0, {"loss": 1.0})
            monitor.on_epoch_end(1, {"loss": 1.0})
        _one_failure_warning(record)


def test_other_errors_propagate():
    def broken(url, body, headers, timeout):
        raise RuntimeError("bug")

    with pytest.raises(RuntimeError, match="bug"):
        RemoteMonitor(sender=broken).on_epoch_end(0, {})
