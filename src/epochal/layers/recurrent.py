"""Recurrent layers: SimpleRNN, LSTM, GRU, and the wrappers Bidirectional and TimeDistributed.

Inputs are ``(batch, time, features)``. Weights are stored as Keras stores them, so
``get_weights()`` / ``set_weights()`` exchange arrays with Keras directly: ``kernel``
``(features, gates * units)``, ``recurrent_kernel`` ``(units, gates * units)`` and ``bias``,
gates in Keras' order (LSTM ``i, f, c, o``; GRU ``z, r, h``, with a ``(2, 3 * units)`` bias
when ``reset_after=True``, Keras 3's default).

Masks (``Embedding(mask_zero=True)``, ``Masking``) arrive through ``call(..., mask=...)``:
a masked timestep keeps the previous states and repeats the previous output, as in Keras.
``dropout`` / ``recurrent_dropout`` draw one mask per sequence (Keras' rule), only in
training.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from epochal import initializers
from epochal.layers._support import (
    SeededRandom,
    activation_name,
    add_activity_loss,
    check_bool,
    check_choice,
    check_rate,
    check_units,
    get_activation,
    get_constraint,
    get_regularizer,
    resolve_initializer,
    serialize,
)
from epochal.layers.base import Layer

__all__ = ["GRU", "LSTM", "Bidirectional", "SimpleRNN", "TimeDistributed"]


class _RNN(Layer):
    """Shared machinery of SimpleRNN, LSTM and GRU (one class per cell type, no cell objects).

    Subclasses set ``_gates`` (blocks of ``units`` in the kernels), ``_n_states`` and
    implement :meth:`_step`.
    """

    casts_inputs = True
    supports_masking = True
    _gates = 1
    _n_states = 1

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        zero_output_for_mask: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.units = check_units("units", units)
        self.activation_name = activation_name(activation)
        self.activation = get_activation("activation", activation)
        self.use_bias = check_bool("use_bias", use_bias)
        self._init_args = {
            "kernel_initializer": kernel_initializer,
            "recurrent_initializer": recurrent_initializer,
            "bias_initializer": bias_initializer,
        }
        self._inits = {k: resolve_initializer(k, v) for k, v in self._init_args.items()}
        self._reg_args = {
            "kernel_regularizer": kernel_regularizer,
            "recurrent_regularizer": recurrent_regularizer,
            "bias_regularizer": bias_regularizer,
            "activity_regularizer": activity_regularizer,
            "kernel_constraint": kernel_constraint,
            "recurrent_constraint": recurrent_constraint,
            "bias_constraint": bias_constraint,
        }
        self._regs = {
            k: (get_constraint(k, v) if k.endswith("constraint") else get_regularizer(k, v))
            for k, v in self._reg_args.items()
        }
        self.dropout = check_rate("dropout", dropout)
        self.recurrent_dropout = check_rate("recurrent_dropout", recurrent_dropout)
        self.seed = seed
        self._random = SeededRandom(seed)
        self.return_sequences = check_bool("return_sequences", return_sequences)
        self.return_state = check_bool("return_state", return_state)
        self.go_backwards = check_bool("go_backwards", go_backwards)
        if check_bool("stateful", stateful):
            raise ValueError(
                f"{type(self).__name__}(stateful=True) is not supported by epochal: states are "
                "not carried across batches. Accepted: stateful=False."
            )
        self.stateful = False
        self.unroll = check_bool("unroll", unroll)  # same numbers either way
        self.zero_output_for_mask = check_bool("zero_output_for_mask", zero_output_for_mask)
        self.kernel: torch.nn.Parameter | None = None
        self.recurrent_kernel: torch.nn.Parameter | None = None
        self.bias: torch.nn.Parameter | None = None
        if self.input_shape_hint is not None:
            self._build_now((1, *self.input_shape_hint))

    # ------------------------------------------------------------------ weights
    def _bias_shape(self) -> tuple[int, ...]:
        return (self._gates * self.units,)

    def _bias_initializer(self) -> Any:
        return self._inits["bias_initializer"]

    def build(self, input_shape: Sequence[int]) -> None:
        if len(input_shape) != 3:
            raise ValueError(
                f"{type(self).__name__} expects inputs of shape (batch, time, features); "
                f"received shape {tuple(input_shape)}."
            )
        features, width = int(input_shape[-1]), self._gates * self.units
        self.kernel = self.add_weight(
            (features, width),
            self._inits["kernel_initializer"],
            regularizer=self._regs["kernel_regularizer"],
            constraint=self._regs["kernel_constraint"],
            name="kernel",
        )
        self.recurrent_kernel = self.add_weight(
            (self.units, width),
            self._inits["recurrent_initializer"],
            regularizer=self._regs["recurrent_regularizer"],
            constraint=self._regs["recurrent_constraint"],
            name="recurrent_kernel",
        )
        if self.use_bias:
            self.bias = self.add_weight(
                self._bias_shape(),
                self._bias_initializer(),
                regularizer=self._regs["bias_regularizer"],
                constraint=self._regs["bias_constraint"],
                name="bias",
            )
        self.built = True

    # ------------------------------------------------------------------ computation
    def _input_bias(self) -> torch.Tensor | None:
        return self.bias

    def _project(self, x: torch.Tensor, masks: torch.Tensor | None) -> torch.Tensor:
        """``x @ kernel + input bias`` for every timestep: ``(batch, time, gates * units)``.
        ``masks``: one input dropout mask ``(batch, features)``, or one per gate
        ``(gates, batch, features)``."""
        assert self.kernel is not None
        if masks is None:
            out = x @ self.kernel
        elif masks.dim() == 2:
            out = (x * masks[:, None, :]) @ self.kernel
        else:
            kernels = self.kernel.reshape(self.kernel.shape[0], self._gates, self.units)
            out = torch.einsum("gbtf,fgu->btgu", x[None] * masks[:, :, None, :], kernels)
            out = out.reshape(*x.shape[:2], -1)
        bias = self._input_bias()
        return out if bias is None else out + bias

    def _recurrent(self, h: torch.Tensor, rec_masks: torch.Tensor | None) -> torch.Tensor:
        """``h @ recurrent_kernel`` (with per-gate recurrent dropout masks when given)."""
        assert self.recurrent_kernel is not None
        if rec_masks is None:
            return h @ self.recurrent_kernel
        if rec_masks.dim() == 2:
            return (h * rec_masks) @ self.recurrent_kernel
        kernels = self.recurrent_kernel.reshape(self.units, self._gates, self.units)
        return torch.einsum("gbu,ugv->bgv", h[None] * rec_masks, kernels).reshape(h.shape[0], -1)

    def _step(
        self, xt: torch.Tensor, states: list[torch.Tensor], rec_masks: torch.Tensor | None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        raise NotImplementedError

    def _dropout_masks(
        self, x: torch.Tensor, training: bool
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        if not training:
            return None, None
        batch, features = x.shape[0], x.shape[-1]
        # Keras: one mask for all gates, or one per gate once recurrent dropout is on.
        count = self._gates if (self.recurrent_dropout > 0 and self._gates > 1) else 0
        in_mask = rec_mask = None
        if 0 < self.dropout < 1:
            shape = (count, batch, features) if count else (batch, features)
            in_mask = self._random.dropout_mask(shape, self.dropout, x.device)
        if 0 < self.recurrent_dropout < 1:
            shape = (count, batch, self.units) if count else (batch, self.units)
            rec_mask = self._random.dropout_mask(shape, self.recurrent_dropout, x.device)
        return in_mask, rec_mask

    def call(
        self,
        sequences: torch.Tensor,
        initial_state: Any = None,
        mask: torch.Tensor | None = None,
        training: bool | None = None,
    ) -> Any:
        x = sequences
        if x.dim() != 3:
            raise ValueError(
                f"{type(self).__name__} expects inputs of shape (batch, time, features); "
                f"received shape {tuple(x.shape)}."
            )
        batch, steps = x.shape[0], x.shape[1]
        if initial_state is None:
            states = [x.new_zeros(batch, self.units) for _ in range(self._n_states)]
        else:
            given = initial_state if isinstance(initial_state, list | tuple) else [initial_state]
            if len(given) != self._n_states:
                raise ValueError(
                    f"{type(self).__name__} expects {self._n_states} initial state tensor(s); "
                    f"received {len(given)}."
                )
            states = [torch.as_tensor(s).to(x) for s in given]
        if mask is not None:
            mask = mask.to(torch.bool, copy=False)
            if mask.dim() == 3:
                mask = mask[..., 0]
        if self.go_backwards:
            x = x.flip(1)
            mask = mask.flip(1) if mask is not None else None
        in_mask, rec_mask = self._dropout_masks(x, bool(training))
        projected = self._project(x, in_mask)
        outputs: list[torch.Tensor] = []
        output = x.new_zeros(batch, self.units)
        for t in range(steps):
            out, new_states = self._step(projected[:, t], states, rec_mask)
            if mask is not None:
                keep = mask[:, t, None]
                new_states = [
                    torch.where(keep, n, o) for n, o in zip(new_states, states, strict=True)
                ]
                out = torch.where(
                    keep, out, torch.zeros_like(out) if self.zero_output_for_mask else output
                )
            states, output = new_states, out
            if self.return_sequences:
                outputs.append(out)
        if self.return_sequences:
            result = torch.stack(outputs, dim=1) if outputs else x.new_zeros(batch, 0, self.units)
        else:
            result = output
        add_activity_loss(self, self._regs["activity_regularizer"], result)
        if self.return_state:
            return [result, *states]
        return result

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if mask is None or not self.return_sequences:
            return None
        mask = mask.to(torch.bool)
        return mask.flip(1) if self.go_backwards else mask

    def get_config(self) -> dict[str, Any]:
        config = {
            **super().get_config(),
            "units": self.units,
            "activation": self.activation_name,
            "use_bias": self.use_bias,
            **{k: serialize(k, v) for k, v in self._init_args.items()},
            **{k: serialize(k, v) for k, v in self._reg_args.items()},
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
        }
        return config


class SimpleRNN(_RNN):
    """Fully connected RNN: ``h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)``.

    Args (Keras 3): units, activation="tanh", use_bias=True,
        kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
        bias_initializer="zeros", kernel/recurrent/bias/activity_regularizer,
        kernel/recurrent/bias_constraint, dropout=0.0, recurrent_dropout=0.0, seed=None,
        return_sequences=False, return_state=False, go_backwards=False, stateful=False
        (True is refused), unroll=False (same numbers). Call: ``(sequences,
        initial_state=None, mask=None, training=None)``.
    """

    def _step(
        self, xt: torch.Tensor, states: list[torch.Tensor], rec_masks: torch.Tensor | None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        h = self.activation(xt + self._recurrent(states[0], rec_masks))
        return h, [h]


class LSTM(_RNN):
    """Long short-term memory (Hochreiter 1997), gates ``i, f, c, o`` as Keras.

    Args (Keras 3): as :class:`SimpleRNN`, plus recurrent_activation="sigmoid",
        unit_forget_bias=True (the forget gate's bias starts at one), use_cudnn="auto"
        (accepted: "auto", True, False; the numbers are the same). ``return_state`` returns
        ``[output, h, c]``.
    """

    _gates = 4
    _n_states = 2

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        unit_forget_bias: bool = True,
        use_cudnn: Any = "auto",
        **kwargs: Any,
    ) -> None:
        self.recurrent_activation_name = activation_name(recurrent_activation)
        self.recurrent_activation = get_activation("recurrent_activation", recurrent_activation)
        self.unit_forget_bias = check_bool("unit_forget_bias", unit_forget_bias)
        self.use_cudnn = check_choice("use_cudnn", use_cudnn, ("auto", True, False))
        super().__init__(
            units,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            **kwargs,
        )

    def _bias_initializer(self) -> Any:
        if not self.unit_forget_bias:
            return self._inits["bias_initializer"]
        base, units = self._inits["bias_initializer"], self.units

        def init(shape: tuple[int, ...], dtype: Any = None) -> torch.Tensor:
            part = initializers.make_weight(base, (units,), torch.float32)
            rest = initializers.make_weight(base, (2 * units,), torch.float32)
            return torch.cat([part, torch.ones(units), rest])

        return init

    def _step(
        self, xt: torch.Tensor, states: list[torch.Tensor], rec_masks: torch.Tensor | None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        h, c = states
        z = xt + self._recurrent(h, rec_masks)
        zi, zf, zc, zo = z.chunk(4, dim=-1)
        act, rec = self.activation, self.recurrent_activation
        c = rec(zf) * c + rec(zi) * act(zc)
        h = rec(zo) * act(c)
        return h, [h, c]

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "recurrent_activation": self.recurrent_activation_name,
            "unit_forget_bias": self.unit_forget_bias,
            "use_cudnn": self.use_cudnn,
        }


class GRU(_RNN):
    """Gated recurrent unit (Cho 2014), gates ``z, r, h`` as Keras.

    Args (Keras 3): as :class:`SimpleRNN`, plus recurrent_activation="sigmoid",
        reset_after=True (the reset gate applies after the recurrent matmul; the bias is then
        ``(2, 3 * units)``: input and recurrent biases), use_cudnn="auto".
    """

    _gates = 3

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        reset_after: bool = True,
        use_cudnn: Any = "auto",
        **kwargs: Any,
    ) -> None:
        self.recurrent_activation_name = activation_name(recurrent_activation)
        self.recurrent_activation = get_activation("recurrent_activation", recurrent_activation)
        self.reset_after = check_bool("reset_after", reset_after)
        self.use_cudnn = check_choice("use_cudnn", use_cudnn, ("auto", True, False))
        super().__init__(units, activation=activation, **kwargs)

    def _bias_shape(self) -> tuple[int, ...]:
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _input_bias(self) -> torch.Tensor | None:
        if self.bias is None:
            return None
        return self.bias[0] if self.reset_after else self.bias

    def _step(
        self, xt: torch.Tensor, states: list[torch.Tensor], rec_masks: torch.Tensor | None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        assert self.recurrent_kernel is not None
        h = states[0]
        u = self.units
        x_z, x_r, x_h = xt.split(u, dim=-1)
        rec = self.recurrent_activation
        if self.reset_after:
            inner = self._recurrent(h, rec_masks)
            if self.bias is not None:
                inner = inner + self.bias[1]
            r_z, r_r, r_h = inner.split(u, dim=-1)
            z = rec(x_z + r_z)
            r = rec(x_r + r_r)
            hh = self.activation(x_h + r * r_h)
        else:
            kernel = self.recurrent_kernel
            if rec_masks is None:
                h_zr, h_h = h, h
            elif rec_masks.dim() == 2:
                h_zr = h_h = h * rec_masks
            else:
                h_zr, h_h = None, h * rec_masks[2]
            if h_zr is None:
                assert rec_masks is not None
                r_z = (h * rec_masks[0]) @ kernel[:, :u]
                r_r = (h * rec_masks[1]) @ kernel[:, u : 2 * u]
            else:
                r_z, r_r = (h_zr @ kernel[:, : 2 * u]).split(u, dim=-1)
            z = rec(x_z + r_z)
            r = rec(x_r + r_r)
            hh = self.activation(x_h + (r * h_h) @ kernel[:, 2 * u :])
        h = z * h + (1 - z) * hh
        return h, [h]

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "recurrent_activation": self.recurrent_activation_name,
            "reset_after": self.reset_after,
            "use_cudnn": self.use_cudnn,
        }


def _builtin_layer_class(name: str) -> type[Layer] | None:
    """The epochal layer class called ``name`` (found among ``Layer``'s subclasses, so this
    module needs no import of the package that exports it)."""
    stack = list(Layer.__subclasses__())
    while stack:
        cls = stack.pop()
        if cls.__name__ == name and cls.__module__.startswith("epochal.layers."):
            return cls
        stack.extend(cls.__subclasses__())
    return None


def _serialize_layer(layer: Layer) -> dict[str, Any]:
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def _deserialize_layer(entry: Any, argument: str) -> Layer:
    if isinstance(entry, Layer):
        return entry
    if not isinstance(entry, dict) or "class_name" not in entry:
        raise ValueError(f"`{argument}` must be a layer or a layer config. Received: {entry!r}")
    cls = _builtin_layer_class(str(entry["class_name"]))
    if cls is None:
        raise ValueError(
            f"Unknown layer class {entry['class_name']!r} in `{argument}`: only epochal's "
            "built-in layers can be rebuilt inside a wrapper."
        )
    return cls.from_config(dict(entry.get("config") or {}))


_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


class Bidirectional(Layer):
    """Runs a recurrent layer forwards and a copy backwards, merging the two outputs.

    Args (Keras 3):
        layer: A :class:`SimpleRNN`, :class:`LSTM` or :class:`GRU` (its copy, with
            ``go_backwards`` flipped, reads the sequence backwards).
        merge_mode: ``"concat"`` (default), ``"sum"``, ``"mul"``, ``"ave"`` or `None` (a
            list ``[forward, backward]``).
        weights: Initial weights (forward layer's, then backward's). Defaults to `None`.
        backward_layer: The backward layer, instead of a copy. Defaults to `None`.

    With ``return_sequences``, the backward outputs are re-reversed to line up in time, and
    both layers output zeros at masked steps (Keras' rule). ``get_weights()`` lists the
    forward layer's weights, then the backward layer's.
    """

    casts_inputs = True
    supports_masking = True

    def __init__(
        self,
        layer: Any,
        merge_mode: str | None = "concat",
        weights: Any = None,
        backward_layer: Any = None,
        **kwargs: Any,
    ) -> None:
        forward = _deserialize_layer(layer, "layer")
        if not isinstance(forward, _RNN):
            raise ValueError(
                "`layer` of Bidirectional must be a SimpleRNN, LSTM or GRU. "
                f"Received: layer={forward!r}"
            )
        super().__init__(**kwargs)
        self.merge_mode = check_choice("merge_mode", merge_mode, _MERGE_MODES)
        if backward_layer is None:
            config = forward.get_config()
            config["go_backwards"] = not forward.go_backwards
            config["name"] = "backward_" + forward.name
            config.pop("input_shape", None)
            backward = type(forward).from_config(config)
        else:
            backward = _deserialize_layer(backward_layer, "backward_layer")
            if not isinstance(backward, _RNN):
                raise ValueError("`backward_layer` must be a SimpleRNN, LSTM or GRU.")
            if backward.go_backwards == forward.go_backwards:
                raise ValueError(
                    "`backward_layer` must read the other way: its go_backwards must differ "
                    "from the forward layer's."
                )
            for attr in ("return_sequences", "return_state"):
                if getattr(backward, attr) != getattr(forward, attr):
                    raise ValueError(f"`backward_layer` must have the same {attr} as `layer`.")
        forward_config = forward.get_config()
        forward_config["name"] = "forward_" + forward.name
        hint = forward_config.pop("input_shape", None)
        if self.input_shape_hint is None and hint is not None:
            self.input_shape_hint = tuple(hint)
        self._layer_config = _serialize_layer(forward)
        self._backward_config = _serialize_layer(backward) if backward_layer is not None else None
        self.forward_layer = type(forward).from_config(forward_config)
        self.backward_layer = backward
        for sub in (self.forward_layer, self.backward_layer):
            if sub.return_sequences:
                sub.zero_output_for_mask = True
        self.return_sequences = forward.return_sequences
        self.return_state = forward.return_state
        self._initial_weights = weights
        if self.input_shape_hint is not None:
            self._build_now((1, *self.input_shape_hint))

    def build(self, input_shape: Sequence[int]) -> None:
        self.forward_layer._build_now(tuple(input_shape))
        self.backward_layer._build_now(tuple(input_shape))
        self.built = True
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def call(
        self,
        sequences: torch.Tensor,
        initial_state: Any = None,
        mask: torch.Tensor | None = None,
        training: bool | None = None,
    ) -> Any:
        fw_state = bw_state = None
        if initial_state is not None:
            given = list(initial_state)
            half = len(given) // 2
            fw_state, bw_state = given[:half], given[half:]
        y = self.forward_layer(sequences, initial_state=fw_state, mask=mask, training=training)
        y_rev = self.backward_layer(sequences, initial_state=bw_state, mask=mask, training=training)
        states: list[torch.Tensor] = []
        if self.return_state:
            states = [*y[1:], *y_rev[1:]]
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = y_rev.flip(1)
        if self.merge_mode == "concat":
            out: Any = torch.cat([y, y_rev], dim=-1)
        elif self.merge_mode == "sum":
            out = y + y_rev
        elif self.merge_mode == "ave":
            out = (y + y_rev) / 2
        elif self.merge_mode == "mul":
            out = y * y_rev
        else:
            out = [y, y_rev]
        if self.return_state:
            return [*out, *states] if self.merge_mode is None else [out, *states]
        return out

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if mask is None or not self.return_sequences:
            return None
        return mask.to(torch.bool)

    def get_config(self) -> dict[str, Any]:
        config = {
            **super().get_config(),
            "layer": self._layer_config,
            "merge_mode": self.merge_mode,
        }
        if self._backward_config is not None:
            config["backward_layer"] = self._backward_config
        return config


class TimeDistributed(Layer):
    """Applies ``layer`` to every timestep (axis 1) of its input, with the same weights.

    Args (Keras 3):
        layer: The layer to apply, to inputs of shape ``(batch * time, ...)``.
    """

    casts_inputs = True
    supports_masking = True

    def __init__(self, layer: Any, **kwargs: Any) -> None:
        inner = _deserialize_layer(layer, "layer")
        super().__init__(**kwargs)
        self.layer = inner
        self._layer_config = _serialize_layer(inner)
        if self.input_shape_hint is not None:
            self._build_now((1, *self.input_shape_hint))

    def build(self, input_shape: Sequence[int]) -> None:
        if len(input_shape) < 3:
            raise ValueError(
                "TimeDistributed expects inputs of shape (batch, time, ...) with at least 3 "
                f"axes; received shape {tuple(input_shape)}."
            )
        if not self.layer.built:
            self.layer._build_now((int(input_shape[0]) * int(input_shape[1]), *input_shape[2:]))
        self.built = True

    def call(self, inputs: torch.Tensor, training: bool | None = None) -> torch.Tensor:
        batch, steps = inputs.shape[0], inputs.shape[1]
        out = self.layer(inputs.reshape(batch * steps, *inputs.shape[2:]), training=training)
        return out.reshape(batch, steps, *out.shape[1:])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "layer": self._layer_config}
