"""Keras' mixed-precision policies: which dtype a model computes in and keeps its weights in.

``epochal.mixed_precision.set_global_policy("mixed_bfloat16")`` makes every model compiled
afterwards train with autocast: the forward pass runs in bfloat16 (``"mixed_float16"``:
float16) where torch's autocast deems it safe, while the weights (the "master" copy the
optimizer updates), the loss, the metrics and the logs stay float32. ``"mixed_float16"``
adds a dynamic loss scale (``torch.amp.GradScaler``): the loss is multiplied before the
backward pass so small float16 gradients do not flush to zero, and an update whose
gradients overflowed (inf/NaN) is skipped and the scale halved.

A model reads the global policy when it is compiled (Keras reads it when layers are
created); ``Model.compile(..., precision=...)`` chooses per model and wins over the global
policy.

Keras' policy names are accepted: ``"float32"``, ``"mixed_float16"``, ``"mixed_bfloat16"``
and the name of any float dtype (``"float16"``, ``"bfloat16"``, ``"float64"``). epochal
trains float32 master weights, so compiling with an all-low-precision policy
(``"float16"``, ``"bfloat16"``) or ``"float64"`` raises a ``ValueError`` naming it.

Example:
    >>> from epochal import mixed_precision
    >>> policy = mixed_precision.Policy("mixed_bfloat16")
    >>> policy.compute_dtype, policy.variable_dtype
    ('bfloat16', 'float32')
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = [
    "DTypePolicy",
    "Policy",
    "dtype_policy",
    "global_policy",
    "resolve",
    "set_dtype_policy",
    "set_global_policy",
]

_FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
_MIXED = {"mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}

#: The torch dtypes of the dtype names a policy may hold.
TORCH_DTYPES: dict[str, torch.dtype] = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
}


class DTypePolicy:
    """A dtype policy: the dtype of computations and the dtype of the weights.

    Args:
        name: ``"float32"``, ``"mixed_float16"``, ``"mixed_bfloat16"`` or a float dtype name
            (``"float16"``, ``"bfloat16"``, ``"float64"``). Defaults to `None`
            (``"float32"``, Keras' ``floatx``).

    Attributes:
        name: The policy's name.
        compute_dtype: The dtype layers compute in (``"bfloat16"`` for ``mixed_bfloat16``).
        variable_dtype: The dtype of the weights (``"float32"`` for the mixed policies).

    Raises:
        ValueError: for any other name (Keras' message).
    """

    def __init__(self, name: str | None = None) -> None:
        if name is None:
            name = "float32"
        if not isinstance(name, str):
            raise TypeError(
                "'name' must be a string, such as 'mixed_float16'. "
                f"Received: name={name!r} (of type {type(name)})"
            )
        if name in _MIXED:
            compute, variable = _MIXED[name], "float32"
        elif name in _FLOAT_DTYPES:
            compute = variable = name
        else:
            raise ValueError(
                f"Cannot convert '{name}' to a mixed precision DTypePolicy. Valid policies "
                "include 'mixed_float16', 'mixed_bfloat16', and the name of any float dtype "
                "such as 'float32'."
            )
        self._name = name
        self._compute_dtype = compute
        self._variable_dtype = variable

    @property
    def name(self) -> str:
        return self._name

    @property
    def compute_dtype(self) -> str:
        return self._compute_dtype

    @property
    def variable_dtype(self) -> str:
        return self._variable_dtype

    @property
    def quantization_mode(self) -> None:
        """Keras' quantized policies are not supported: always `None`."""
        return None

    @property
    def is_mixed(self) -> bool:
        """Whether computations run in a lower precision than the float32 weights."""
        return self._name in _MIXED

    def get_config(self) -> dict[str, Any]:
        return {"name": self._name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> DTypePolicy:
        return cls(**config)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DTypePolicy) and other.name == self.name

    def __hash__(self) -> int:
        return hash(("DTypePolicy", self._name))

    def __repr__(self) -> str:
        return f'<DTypePolicy "{self._name}">'


#: Keras' alias.
Policy = DTypePolicy

_global: DTypePolicy | None = None


def _as_policy(policy: Any, argument: str) -> DTypePolicy:
    if isinstance(policy, DTypePolicy):
        return policy
    if isinstance(policy, str):
        return DTypePolicy(policy)
    raise ValueError(
        f"Invalid `{argument}` argument. Expected the string name of a policy (such as "
        "'mixed_float16') or a `DTypePolicy` instance. "
        f"Received: {argument}={policy!r} (of type {type(policy)})"
    )


def set_global_policy(policy: str | DTypePolicy) -> None:
    """Sets the policy of models compiled from now on (without ``compile(precision=...)``).

    Args:
        policy: A policy name (``"mixed_bfloat16"``) or a :class:`DTypePolicy`.

    Raises:
        ValueError: for anything else, or an unknown name.
    """
    global _global
    _global = _as_policy(policy, "policy")


def global_policy() -> DTypePolicy:
    """The global policy: the last one set, else ``"float32"``."""
    return _global if _global is not None else DTypePolicy("float32")


#: Keras 3's names of the same functions.
set_dtype_policy = set_global_policy
dtype_policy = global_policy


def resolve(precision: Any) -> DTypePolicy:
    """The policy a model compiled with ``precision=`` trains with.

    ``None`` means the global policy. The policy must keep float32 weights (``"float32"`` or
    a mixed policy): epochal's optimizers update float32 master weights.

    Raises:
        ValueError: for an unknown name or a policy with non-float32 weights, naming it.
    """
    policy = global_policy() if precision is None else _as_policy(precision, "precision")
    if policy.variable_dtype != "float32":
        raise ValueError(
            f"The dtype policy {policy.name!r} keeps the weights in {policy.variable_dtype}; "
            "epochal trains float32 weights. Use 'float32', 'mixed_float16' or "
            "'mixed_bfloat16' (computations in low precision, float32 master weights)."
        )
    return policy
