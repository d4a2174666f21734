"""Attention layers: ``Attention`` (Luong-style dot-product attention) and
``MultiHeadAttention`` (Vaswani et al.), Keras 3's arguments, masks and weight layout.

``Attention`` takes ``[query, value]`` or ``[query, value, key]`` and has at most two scalar
weights (``scale`` with ``use_scale=True``, ``concat_score_weight`` with
``score_mode="concat"``). ``MultiHeadAttention(query, value, key=None)`` projects its inputs
with four einsum projections named as Keras names them (``query``, ``key``, ``value``,
``attention_output``; ``gate`` with ``use_gate=True``), whose kernels keep Keras' shapes
(``query`` kernel ``(dim, num_heads, key_dim)``, bias ``(num_heads, key_dim)``; output kernel
``(num_heads, value_dim, dim)``), so ``get_weights()`` / ``set_weights()`` exchange arrays
with Keras and Keras' files load.

Masks as Keras applies them: a masked score is lowered by ``1e9`` before the softmax, a
causal mask (``use_causal_mask=True``) lets position ``i`` attend to ``j <= i`` only. Where
Keras on torch runs ``scaled_dot_product_attention`` (``MultiHeadAttention`` on 3-D inputs,
no dropout, no scores returned) so does epochal, with the same additive mask, so a query row
whose keys are all masked averages the values as there; otherwise that row is zero, as in
Keras' masked softmax. Dropout of the attention weights runs only in training, seeded by
``seed``.
"""

from __future__ import annotations

import math
import string
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from epochal.layers._support import (
    SeededRandom,
    add_activity_loss,
    check_bool,
    check_choice,
    check_rate,
    check_units,
    get_constraint,
    get_regularizer,
    resolve_initializer,
    serialize,
)
from epochal.layers.base import Layer

__all__ = ["Attention", "MultiHeadAttention"]

_MASKED = 1.0e9  # Keras lowers masked scores (float32) by this much before the softmax
_SDPA_NEGATIVE = -0.7 * 3.38953e38  # Keras-on-torch's additive mask value for SDPA


def _causal(q_len: int, k_len: int, device: torch.device) -> torch.Tensor:
    """``(1, q_len, k_len)``, True where key position ``j <= i`` (Keras' lower triangle)."""
    return torch.ones(q_len, k_len, dtype=torch.bool, device=device).tril()[None]


def _as_mask(name: str, value: Any, device: torch.device) -> torch.Tensor | None:
    if value is None:
        return None
    mask = torch.as_tensor(value, device=device)
    return (
        mask if mask.dtype == torch.bool else mask > 0.5 if mask.is_floating_point() else mask != 0
    )


def _check_inputs(layer: str, inputs: Any, mask: Any) -> None:
    if not isinstance(inputs, list | tuple):
        raise ValueError(
            f"{layer} must be called on a list of inputs, [query, value] or [query, value, "
            f"key]. Received: inputs of type {type(inputs).__name__}"
        )
    if not 2 <= len(inputs) <= 3:
        raise ValueError(
            f"{layer} takes a list of 2 or 3 inputs ([query, value] or [query, value, key]). "
            f"Received: {len(inputs)} inputs"
        )
    if mask is not None and (not isinstance(mask, list | tuple) or not 2 <= len(mask) <= 3):
        raise ValueError(
            f"{layer}'s `mask` must be a list [query_mask, value_mask] (entries may be None). "
            f"Received: mask={mask!r}"
        )


class Attention(Layer):
    """Dot-product attention (Luong-style), as Keras' ``Attention``.

    ``scores = query @ key^T`` (``score_mode="dot"``, times ``scale`` with
    ``use_scale=True``) or ``concat_score_weight * sum(tanh(scale * (q + k)))``
    (``score_mode="concat"``), masked, softmaxed over the keys, then applied to ``value``.

    Args (Keras 3):
        use_scale: Learn a scalar ``scale`` (initially 1) multiplying the scores. Defaults
            to `False`.
        score_mode: ``"dot"`` or ``"concat"``. Defaults to `"dot"`.
        dropout: Fraction of the attention weights dropped in training. Defaults to `0.0`.
        seed: Seeds the dropout. Defaults to `None`.

    Call arguments: ``inputs=[query (B, Tq, dim), value (B, Tv, dim)(, key (B, Tv, dim))]``;
    ``mask=[query_mask (B, Tq), value_mask (B, Tv)]`` (entries may be `None`);
    ``return_attention_scores`` (also return the weights after softmax, and dropout, shape
    ``(B, Tq, Tv)``); ``training``; ``use_causal_mask``.
    """

    casts_inputs = False
    supports_masking = True

    def __init__(
        self,
        use_scale: bool = False,
        score_mode: str = "dot",
        dropout: float = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.use_scale = check_bool("use_scale", use_scale)
        self.score_mode = check_choice("score_mode", score_mode, ("dot", "concat"))
        self.dropout = check_rate("dropout", dropout)
        self.seed = seed
        self._random = SeededRandom(seed)
        self.scale: torch.nn.Parameter | None = None
        self.concat_score_weight: torch.nn.Parameter | None = None

    def build(self, input_shape: Any) -> None:
        if self.use_scale:
            self.scale = self.add_weight((), "ones", name="scale")
        if self.score_mode == "concat":
            self.concat_score_weight = self.add_weight((), "ones", name="concat_score_weight")
        self.built = True

    def _scores(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        if self.score_mode == "dot":
            scores = query @ key.transpose(-2, -1)
            return scores * self.scale if self.scale is not None else scores
        total = query.unsqueeze(-2) + key.unsqueeze(-3)
        if self.scale is not None:
            total = self.scale * total
        assert self.concat_score_weight is not None
        return self.concat_score_weight * torch.tanh(total).sum(dim=-1)

    def call(
        self,
        inputs: Any,
        mask: Any = None,
        training: bool | None = None,
        return_attention_scores: bool = False,
        use_causal_mask: bool = False,
    ) -> Any:
        _check_inputs("Attention", inputs, mask)
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) > 2 else value
        q_mask = _as_mask("mask", mask[0], query.device) if mask else None
        v_mask = _as_mask("mask", mask[1], query.device) if mask else None
        scores = self._scores(query, key)
        score_mask = v_mask[..., None, :] if v_mask is not None else None
        if use_causal_mask:
            causal = _causal(scores.shape[-2], scores.shape[-1], scores.device)
            score_mask = causal if score_mask is None else score_mask & causal
        if score_mask is not None:
            scores = torch.where(score_mask, scores, scores - _MASKED)
        weights = torch.softmax(scores, dim=-1)
        if training and self.dropout > 0:
            drop = self._random.dropout_mask(weights.shape, self.dropout, weights.device)
            weights = weights * drop.to(weights.dtype)
        output = weights @ value
        if q_mask is not None:
            output = torch.where(q_mask[..., None], output, torch.zeros_like(output))
        if return_attention_scores:
            return output, weights
        return output

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if mask is None or mask[0] is None:
            return None
        return torch.as_tensor(mask[0])

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "use_scale": self.use_scale,
            "score_mode": self.score_mode,
            "dropout": self.dropout,
            "seed": self.seed,
        }


class _EinsumProjection(Layer):
    """One of MultiHeadAttention's projections (Keras' ``EinsumDense`` there): contracts the
    last ``bound`` axes of its input with a kernel of shape ``(*in_dims, *out_dims)`` and
    adds a bias of shape ``out_dims``."""

    casts_inputs = False

    def __init__(
        self,
        in_dims: Sequence[int],
        out_dims: Sequence[int],
        use_bias: bool,
        options: dict[str, Any],
        activation: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.bound = len(in_dims)
        self.activation = activation
        self.activity_regularizer = options["activity_regularizer"]
        self.kernel = self.add_weight(
            (*in_dims, *out_dims),
            options["kernel_initializer"],
            regularizer=options["kernel_regularizer"],
            constraint=options["kernel_constraint"],
            name="kernel",
        )
        self.bias = None
        if use_bias:
            self.bias = self.add_weight(
                tuple(out_dims),
                options["bias_initializer"],
                regularizer=options["bias_regularizer"],
                constraint=options["bias_constraint"],
                name="bias",
            )
        self.built = True

    def call(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.tensordot(x, self.kernel, dims=self.bound)
        if self.bias is not None:
            out = out + self.bias
        if self.activation == "sigmoid":
            out = torch.sigmoid(out)
        add_activity_loss(self, self.activity_regularizer, out)
        return out


def _letters(n: int, start: int = 0) -> str:
    return string.ascii_lowercase[start : start + n]


def _attention_equations(rank: int, axes: tuple[int, ...]) -> tuple[str, str, int]:
    """The einsum equations of the scores and of their combination with the values, for
    projected tensors of ``rank`` axes (batch, ..., heads, channels) attending over ``axes``."""
    target = _letters(rank)
    batch = [i for i in range(rank) if i not in axes and i != rank - 1]
    source = list(target)
    extra = rank
    for i in axes:
        source[i] = string.ascii_lowercase[extra]
        extra += 1
    src = "".join(source)
    product = "".join(
        [target[i] for i in batch] + [target[i] for i in axes] + [src[i] for i in axes]
    )
    return f"{src},{target}->{product}", f"{product},{src}->{target}", len(product)


class MultiHeadAttention(Layer):
    """Multi-head attention, as Keras' ``MultiHeadAttention``.

    ``query``, ``key`` and ``value`` are projected to ``num_heads`` heads of ``key_dim``
    (``value_dim`` for the values) channels, attention runs per head over
    ``attention_axes`` (scaled by ``1 / sqrt(key_dim)``), and the heads are projected back to
    ``output_shape`` (default: the query's last axis).

    Args (Keras 3):
        num_heads: Number of heads.
        key_dim: Channels per head of query and key.
        value_dim: Channels per head of value. Defaults to `None` (``key_dim``).
        dropout: Fraction of the attention weights dropped in training. Defaults to `0.0`.
        use_bias: Whether the projections have biases. Defaults to `True`.
        output_shape: The output's trailing shape (int or tuple). Defaults to `None`.
        attention_axes: Axes attention runs over (batch and heads excluded). Defaults to
            `None` (every axis between the batch and the channels).
        sliding_window: Attend only to keys within this distance. Defaults to `None`.
        flash_attention: `None`, `True` or `False`; epochal runs torch's
            ``scaled_dot_product_attention`` where Keras does, which picks its kernel. With
            `True`, dropout and returned scores are refused as in Keras. Defaults to `None`.
        kernel_initializer / bias_initializer: Defaults to `"glorot_uniform"` / `"zeros"`.
        kernel_regularizer / bias_regularizer / activity_regularizer / kernel_constraint /
            bias_constraint: Applied to each projection, as Keras does. Default `None`.
        use_gate: A sigmoid gate on the query multiplies the attention output. Defaults to
            `False`.
        seed: Seeds the dropout. Defaults to `None`.

    Call arguments: ``query (B, Tq, dim)``, ``value (B, Tv, dim)``, ``key`` (defaults to
    ``value``), ``query_mask`` / ``value_mask`` / ``key_mask`` (``(B, T)``, applied as
    Keras applies the masks its inputs carry), ``attention_mask`` (``(B, Tq, Tv)``, True =
    attend), ``return_attention_scores`` (also return the weights ``(B, heads, Tq, Tv)``,
    before dropout), ``training``, ``use_causal_mask``.
    """

    casts_inputs = False
    supports_masking = True

    def __init__(
        self,
        num_heads: int,
        key_dim: int,
        value_dim: int | None = None,
        dropout: float = 0.0,
        use_bias: bool = True,
        output_shape: int | Sequence[int] | None = None,
        attention_axes: int | Sequence[int] | None = None,
        sliding_window: int | None = None,
        flash_attention: bool | None = None,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        use_gate: bool = False,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.num_heads = check_units("num_heads", num_heads)
        self.key_dim = check_units("key_dim", key_dim)
        self.value_dim = check_units("value_dim", value_dim, allow_none=True) or self.key_dim
        self.dropout = check_rate("dropout", dropout)
        self.use_bias = check_bool("use_bias", use_bias)
        self.use_gate = check_bool("use_gate", use_gate)
        if isinstance(output_shape, int) and not isinstance(output_shape, bool):
            output_shape = (output_shape,)
        if output_shape is not None:
            if not isinstance(output_shape, list | tuple) or not all(
                isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in output_shape
            ):
                raise ValueError(
                    "`output_shape` must be a positive integer or a tuple of them. Received: "
                    f"output_shape={output_shape!r}"
                )
            output_shape = tuple(output_shape) or None
        self.output_shape_arg: tuple[int, ...] | None = output_shape
        if isinstance(attention_axes, int) and not isinstance(attention_axes, bool):
            attention_axes = (attention_axes,)
        if attention_axes is not None:
            if not isinstance(attention_axes, list | tuple) or not all(
                isinstance(a, int) and not isinstance(a, bool) for a in attention_axes
            ):
                raise ValueError(
                    "`attention_axes` must be an int, list, or tuple of ints. Received: "
                    f"attention_axes={attention_axes!r}"
                )
            attention_axes = tuple(attention_axes)
        self.attention_axes: tuple[int, ...] | None = attention_axes
        self.sliding_window = check_units("sliding_window", sliding_window, allow_none=True)
        if flash_attention is not None:
            check_bool("flash_attention", flash_attention)
        self.flash_attention = flash_attention
        if flash_attention and self.dropout > 0:
            raise ValueError(
                "`flash_attention=True` does not support dropout (as in Keras). Received: "
                f"flash_attention=True, dropout={dropout!r}"
            )
        self.seed = seed
        self._random = SeededRandom(seed)
        self._init_args = {
            "kernel_initializer": kernel_initializer,
            "bias_initializer": bias_initializer,
        }
        self._reg_args = {
            "kernel_regularizer": kernel_regularizer,
            "bias_regularizer": bias_regularizer,
            "activity_regularizer": activity_regularizer,
            "kernel_constraint": kernel_constraint,
            "bias_constraint": bias_constraint,
        }
        self._options: dict[str, Any] = {
            k: resolve_initializer(k, v) for k, v in self._init_args.items()
        }
        for k, v in self._reg_args.items():
            self._options[k] = (
                get_constraint(k, v) if k.endswith("constraint") else get_regularizer(k, v)
            )
        self._ready = False
        self._axes: tuple[int, ...] = ()

    # ----------------------------------------------------------------- building
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if not args and "query" in kwargs:
            args = (kwargs.pop("query"),)
        return super().forward(*args, **kwargs)

    def build(
        self,
        query_shape: Any,
        value_shape: Any = None,
        key_shape: Any = None,
    ) -> None:
        """Creates the projections for these input shapes (batch axis included); on the
        first call when only the query's shape is known."""
        if value_shape is None:
            self.built = True
            return
        query_shape, value_shape = tuple(query_shape), tuple(value_shape)
        key_shape = value_shape if key_shape is None else tuple(key_shape)
        if value_shape[1:-1] != key_shape[1:-1]:
            raise ValueError(
                "All dimensions of `value` and `key`, except the last one, must be equal. "
                f"Received: value_shape={value_shape} and key_shape={key_shape}"
            )
        heads, options = self.num_heads, self._options
        proj = _EinsumProjection
        self.query_dense = proj(
            (query_shape[-1],), (heads, self.key_dim), self.use_bias, options, name="query"
        )
        self.key_dense = proj(
            (key_shape[-1],), (heads, self.key_dim), self.use_bias, options, name="key"
        )
        if self.use_gate:
            self.gate_dense = proj(
                (query_shape[-1],),
                (heads, self.value_dim),
                self.use_bias,
                options,
                activation="sigmoid",
                name="gate",
            )
        self.value_dense = proj(
            (value_shape[-1],), (heads, self.value_dim), self.use_bias, options, name="value"
        )
        out = self.output_shape_arg or (query_shape[-1],)
        self.output_dense = proj(
            (heads, self.value_dim), out, self.use_bias, options, name="attention_output"
        )
        rank = len(query_shape) + 1  # the projected query: (batch, ..., heads, channels)
        if self.attention_axes is None:
            axes = tuple(range(1, rank - 2))
        else:
            axes = tuple(a if a >= 0 else (rank - 1) + a for a in self.attention_axes)
            bad = [a for a in axes if not 1 <= a <= rank - 3]
            if bad:
                raise ValueError(
                    f"`attention_axes`={self.attention_axes!r} names axes outside the query's "
                    f"inner axes 1..{rank - 3} (query shape {query_shape})."
                )
        self._axes = axes
        self._dot_eq, self._combine_eq, self._scores_rank = _attention_equations(rank, axes)
        self._rank = rank
        self._ready = True
        self.built = True

    # ----------------------------------------------------------------- masks
    def _attention_mask(
        self,
        query: torch.Tensor,
        value: torch.Tensor,
        query_mask: Any,
        value_mask: Any,
        key_mask: Any,
        attention_mask: Any,
        use_causal_mask: bool,
    ) -> torch.Tensor | None:
        device = query.device
        auto: torch.Tensor | None = None

        def both(a: torch.Tensor | None, b: torch.Tensor) -> torch.Tensor:
            return b if a is None else a & b

        q = _as_mask("query_mask", query_mask, device)
        if q is not None:
            auto = q[..., :, None]
        for name, given in (("value_mask", value_mask), ("key_mask", key_mask)):
            m = _as_mask(name, given, device)
            if m is not None:
                auto = both(auto, m[..., None, :])
        if use_causal_mask:
            auto = both(auto, _causal(query.shape[1], value.shape[1], device))
        if self.sliding_window is not None:
            rows = torch.arange(query.shape[1], device=device)[None, :, None]
            cols = torch.arange(value.shape[1], device=device)[None, None, :]
            auto = both(auto, (rows - cols).abs() < self.sliding_window)
        explicit = _as_mask("attention_mask", attention_mask, device)
        if auto is None:
            return explicit
        return auto if explicit is None else explicit & auto

    def _expand(self, mask: torch.Tensor, rank: int) -> torch.Tensor:
        axis = -len(self._axes) * 2 - 1
        while mask.dim() < rank:
            mask = mask.unsqueeze(axis)
        return mask

    # ----------------------------------------------------------------- attention
    def _attend(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        mask: torch.Tensor | None,
        training: bool,
        return_scores: bool,
        causal_only: bool,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        scale = 1.0 / math.sqrt(float(self.key_dim))
        if self.dropout == 0.0 and not return_scores and query.dim() == 4:
            # Keras on torch: scaled_dot_product_attention on (batch, heads, time, channels)
            bias = None
            if mask is not None:
                bias = torch.where(self._expand(mask, 4), 0.0, _SDPA_NEGATIVE).to(query.dtype)
            out = F.scaled_dot_product_attention(
                query.transpose(1, 2),
                key.transpose(1, 2),
                value.transpose(1, 2),
                attn_mask=bias,
                is_causal=causal_only,
                scale=scale,
            )
            return out.transpose(1, 2), None
        if causal_only:
            mask = _causal(query.shape[1], value.shape[1], query.device)
        scores = torch.einsum(self._dot_eq, key, query * scale)
        n = len(self._axes)
        dims = tuple(range(scores.dim() - n, scores.dim()))
        if mask is not None:
            mask = self._expand(mask, scores.dim())
            scores = torch.where(mask, scores, torch.full_like(scores, -_MASKED))
        if n == 1:
            weights = torch.softmax(scores, dim=-1)
        else:
            weights = torch.exp(scores - torch.logsumexp(scores, dim=dims, keepdim=True))
        if mask is not None:
            weights = torch.where(mask, weights, torch.zeros_like(weights))
        final = weights
        if training and self.dropout > 0:
            drop = self._random.dropout_mask(weights.shape, self.dropout, weights.device)
            final = weights * drop.to(weights.dtype)
        return torch.einsum(self._combine_eq, final, value), weights

    def call(
        self,
        query: torch.Tensor,
        value: torch.Tensor,
        key: torch.Tensor | None = None,
        query_mask: Any = None,
        value_mask: Any = None,
        key_mask: Any = None,
        attention_mask: Any = None,
        return_attention_scores: bool = False,
        training: bool | None = None,
        use_causal_mask: bool = False,
    ) -> Any:
        return_attention_scores = check_bool("return_attention_scores", return_attention_scores)
        use_causal_mask = check_bool("use_causal_mask", use_causal_mask)
        if self.flash_attention and return_attention_scores:
            raise ValueError(
                "`return_attention_scores=True` is not supported with flash_attention=True "
                "(as in Keras)."
            )
        query = torch.as_tensor(query)
        value = torch.as_tensor(value, device=query.device)
        key = value if key is None else torch.as_tensor(key, device=query.device)
        if not self._ready:
            self.build(tuple(query.shape), tuple(value.shape), tuple(key.shape))
            self.to(query.device)
        causal_only = (
            use_causal_mask
            and query_mask is None
            and value_mask is None
            and key_mask is None
            and attention_mask is None
            and self.sliding_window is None
        )
        mask = None
        if not causal_only:
            mask = self._attention_mask(
                query, value, query_mask, value_mask, key_mask, attention_mask, use_causal_mask
            )
        gate = self.gate_dense(query) if self.use_gate else None
        q = self.query_dense(query)
        k = self.key_dense(key)
        v = self.value_dense(value)
        out, scores = self._attend(
            q, k, v, mask, bool(training), return_attention_scores, causal_only
        )
        if gate is not None:
            out = out * gate
        out = self.output_dense(out)
        if return_attention_scores:
            return out, scores
        return out

    def get_config(self) -> dict[str, Any]:
        axes = self._axes if self._ready else self.attention_axes
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "key_dim": self.key_dim,
            "value_dim": self.value_dim,
            "dropout": self.dropout,
            "use_bias": self.use_bias,
            "use_gate": self.use_gate,
            "output_shape": list(self.output_shape_arg) if self.output_shape_arg else None,
            "attention_axes": list(axes) if axes is not None else None,
            "sliding_window": self.sliding_window,
            **{k: serialize(k, v) for k, v in self._init_args.items()},
            **{k: serialize(k, v) for k, v in self._reg_args.items()},
            "seed": self.seed,
        }
