"""``compile(jit_compile=True)``: the steps call the model through ``torch.compile``.

Keras' ``jit_compile=True`` on the torch backend compiles the step with ``torch.compile``.
epochal compiles what a step spends its time in: the model's forward pass, and through
AOTAutograd its backward pass, under the step's autocast context. The loss, the optimizer
update, the metrics and the callbacks stay eager Python, so logs stay lazy, callbacks see
the same model and a ``BackupAndRestore`` resume is unchanged (the compiled graph holds no
state of its own: the weights are the module's).

``jit_compile`` takes:

* `False` — eager;
* ``"auto"`` (Keras' default) — eager, as Keras resolves it on the torch backend;
* `True` — ``torch.compile`` with its defaults;
* a ``torch.compile`` mode: ``"default"``, ``"reduce-overhead"``, ``"max-autotune"``,
  ``"max-autotune-no-cudagraphs"``;
* a dict of ``torch.compile`` keyword arguments (``mode``, ``backend``, ``fullgraph``,
  ``dynamic``, ``options``).

When compilation is impossible (no C++ compiler for inductor, a Python torch.compile does
not support, a backend error), the first call warns once, naming the reason, and the run
goes on eagerly with identical semantics.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import torch

__all__ = ["JIT_MODES", "CompiledModule", "resolve_jit_compile"]

#: The modes ``torch.compile`` accepts.
JIT_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
_OPTIONS = ("mode", "backend", "fullgraph", "dynamic", "options")


def resolve_jit_compile(jit_compile: Any) -> dict[str, Any] | None:
    """The ``torch.compile`` keyword arguments ``jit_compile`` asks for, `None` for eager.

    Raises:
        ValueError / TypeError: for any other value, naming what is accepted.
    """
    if jit_compile is False or jit_compile == "auto":
        return None
    if jit_compile is True:
        return {}
    if isinstance(jit_compile, str):
        if jit_compile not in JIT_MODES:
            raise ValueError(
                "`jit_compile` must be True, False, 'auto', a torch.compile mode "
                f"({', '.join(repr(m) for m in JIT_MODES)}) or a dict of torch.compile "
                f"arguments. Received: jit_compile={jit_compile!r}"
            )
        return {"mode": jit_compile}
    if isinstance(jit_compile, Mapping):
        unknown = sorted(set(jit_compile) - set(_OPTIONS))
        if unknown:
            raise ValueError(
                f"`jit_compile` as a dict takes torch.compile arguments ({', '.join(_OPTIONS)}). "
                f"Unknown: {unknown}"
            )
        mode = jit_compile.get("mode")
        if mode is not None and mode not in JIT_MODES:
            raise ValueError(
                f"`jit_compile['mode']` must be one of {', '.join(repr(m) for m in JIT_MODES)}. "
                f"Received: {mode!r}"
            )
        return dict(jit_compile)
    raise TypeError(
        "`jit_compile` must be True, False, 'auto', a torch.compile mode or a dict of "
        f"torch.compile arguments. Received: {jit_compile!r} (of type {type(jit_compile).__name__})"
    )


def _compile_error(exc: BaseException) -> bool:
    """Whether ``exc`` comes from torch.compile's machinery (not from the user's model)."""
    dynamo = getattr(torch, "_dynamo", None)
    base = getattr(getattr(dynamo, "exc", None), "TorchDynamoException", None)
    if base is not None and isinstance(exc, base):
        return True
    # inductor's C++ build, a missing compiler, an unsupported Python or platform
    text = f"{type(exc).__name__}: {exc}"
    return any(
        marker in text
        for marker in ("torch.compile", "Dynamo", "inductor", "CppCompileError", "compiler")
    )


class CompiledModule:
    """Calls ``module`` through ``torch.compile(module, **options)``; on a compilation
    failure, warns once and calls ``module`` eagerly from then on.

    Not an ``nn.Module``: it owns no weights, so the model's modules and ``state_dict``
    are unchanged; ``eager`` is the module itself.
    """

    def __init__(self, module: torch.nn.Module, options: Mapping[str, Any]) -> None:
        self.eager = module
        self.options = dict(options)
        self.failure: str | None = None
        try:
            self._compiled: Any = torch.compile(module, **self.options)
        except Exception as exc:  # torch.compile refuses this Python or platform at once
            self._fall_back(exc)

    def _fall_back(self, exc: BaseException) -> None:
        self.failure = f"{type(exc).__name__}: {exc}".strip()
        first_line = self.failure.splitlines()[0][:500]
        warnings.warn(
            "compile(jit_compile=...): torch.compile cannot compile this model "
            f"({first_line}); training and evaluation continue eagerly, with the same results. "
            "Pass jit_compile=False to silence this warning.",
            RuntimeWarning,
            stacklevel=4,
        )
        self._compiled = None

    @property
    def compiled(self) -> bool:
        """Whether calls go through the compiled graph (no fallback happened)."""
        return self._compiled is not None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._compiled is None:
            return self.eager(*args, **kwargs)
        try:
            return self._compiled(*args, **kwargs)
        except Exception as exc:
            if not _compile_error(exc):
                raise
            # The user's model may be what fails: then its eager error is the one to see.
            out = self.eager(*args, **kwargs)
            self._fall_back(exc)
            return out

    def __repr__(self) -> str:
        state = "compiled" if self.compiled else f"eager fallback ({self.failure})"
        return f"CompiledModule({type(self.eager).__name__}, {self.options}, {state})"
