"""RemoteMonitor: POSTs each epoch's logs to an HTTP server."""

from __future__ import annotations

import http.client
import json
import urllib.parse
import urllib.request
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from epochal._validation import check_bool, check_number
from epochal.callbacks.callback import Callback

__all__ = ["RemoteMonitor", "json_safe", "urllib_sender"]

Sender = Callable[[str, bytes, dict[str, str], float], Any]


def urllib_sender(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """POSTs ``body`` with the standard library; raises ``OSError`` on any failure.

    An HTTP error status (4xx, 5xx) raises ``urllib.error.HTTPError``; a server that does
    not answer within ``timeout`` seconds raises ``TimeoutError``.
    """
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        response.read()
        return int(response.status)


def json_safe(value: Any) -> Any:
    """A value ``json.dumps`` accepts: numpy and tensor scalars as numbers, arrays as lists."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray | np.generic):
        return value.item() if value.size == 1 else value.tolist()
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


class RemoteMonitor(Callback):
    """Sends every epoch's logs to a server with an HTTP POST, in Keras' payload format.

    The payload is ``{"epoch": <0-based index>, <logs key>: <value>, ...}``. By default it is
    sent as one form field, ``<field>=<payload as JSON>``
    (``application/x-www-form-urlencoded``); with ``send_as_json=True`` the JSON itself is the
    body (``application/json``). numpy and tensor values are converted to numbers (or lists).

    Unlike Keras, a request gives up after ``timeout`` seconds, and the standard library is
    used instead of ``requests``. An unreachable server, an error status or a timeout gives
    one ``UserWarning`` per ``fit`` ("Could not reach RemoteMonitor root server at ...") and
    training carries on. In a distributed run only the main process sends.

    Args:
        root: Server root URL. Defaults to `"http://localhost:9000"`.
        path: Appended to ``root`` as it is. Defaults to `"/publish/epoch/end/"`.
        field: Form field holding the JSON payload (form mode only). Defaults to `"data"`.
        headers: Extra HTTP headers. Defaults to `None`.
        send_as_json: Send the payload as a JSON body. Defaults to `False`.
        timeout: Seconds to wait for the server (epochal extension). Defaults to `5.0`.
        sender: ``sender(url, body, headers, timeout)`` doing the POST and raising
            ``OSError`` on failure (inject one in tests). Defaults to `None`
            (:func:`urllib_sender`).

    Raises:
        ValueError: when ``timeout`` is not a positive number.
        TypeError: when ``root``, ``path`` or ``field`` is not a string, or ``headers`` is not
            a mapping.

    Example:
        >>> from epochal.callbacks import RemoteMonitor
        >>> sent = []
        >>> monitor = RemoteMonitor(sender=lambda url, body, headers, timeout: sent.append(body))
        >>> monitor.on_epoch_end(0, {"loss": 0.5})
        >>> sent[0]
        b'data=%7B%22epoch%22%3A+0%2C+%22loss%22%3A+0.5%7D'
    """

    main_process_only = True  # writes files / sends data: rank 0 of a distributed job only

    def __init__(
        self,
        root: str = "http://localhost:9000",
        path: str = "/publish/epoch/end/",
        field: str = "data",
        headers: Mapping[str, str] | None = None,
        send_as_json: bool = False,
        *,
        timeout: float = 5.0,
        sender: Sender | None = None,
    ) -> None:
        super().__init__()
        for name, value in (("root", root), ("path", path), ("field", field)):
            if not isinstance(value, str):
                raise TypeError(f"`{name}` must be a str. Received: {name}={value!r}")
        if headers is not None and not isinstance(headers, Mapping):
            raise TypeError(f"`headers` must be a dict or None. Received: headers={headers!r}")
        check_number("timeout", timeout, positive=True, unit="seconds")
        self.root = root
        self.path = path
        self.field = field
        self.headers = dict(headers) if headers is not None else None
        self.send_as_json = check_bool("send_as_json", send_as_json, where="RemoteMonitor: ")
        self.timeout = float(timeout)
        self.sender: Sender = sender if sender is not None else urllib_sender
        self._warned = False

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        # One warning per run: a down server must not flood the output every epoch.
        self._warned = False

    def payload(self, epoch: int, logs: Mapping[str, Any] | None) -> tuple[bytes, dict[str, str]]:
        """The request body and headers sent for ``epoch`` (Keras' encoding)."""
        send: dict[str, Any] = {"epoch": epoch}
        send.update({key: json_safe(value) for key, value in (logs or {}).items()})
        if self.send_as_json:
            body = json.dumps(send).encode("utf-8")
            content_type = "application/json"
        else:
            body = urllib.parse.urlencode({self.field: json.dumps(send)}).encode("ascii")
            content_type = "application/x-www-form-urlencoded"
        headers = dict(self.headers or {})
        if not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = content_type
        return body, headers

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        body, headers = self.payload(epoch, logs)
        try:
            self.sender(self.root + self.path, body, headers, self.timeout)
        except (OSError, http.client.HTTPException) as exc:
            if not self._warned:
                self._warned = True
                warnings.warn(
                    f"Could not reach RemoteMonitor root server at {self.root} "
                    f"({type(exc).__name__}: {exc}). Training continues; later failures "
                    "of this run are not reported.",
                    UserWarning,
                    stacklevel=2,
                )
