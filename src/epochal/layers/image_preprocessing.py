"""Image preprocessing layers: CenterCrop, Resizing, RandomFlip, RandomRotation, RandomZoom,
RandomTranslation.

Images are ``(batch, height, width, channels)`` (``data_format="channels_last"``, Keras'
default) or ``(batch, channels, height, width)``; a rank-3 input is one image. The numbers
are Keras 3's on its torch backend: resizing is ``torch.nn.functional.interpolate``
(``"nearest"`` is torch's ``"nearest-exact"``, bilinear and bicubic without corner
alignment), and the random layers move each output pixel ``(y, x)`` to the input point of an
affine map, read there with nearest or bilinear interpolation; points outside the image are
filled by ``fill_mode`` (``"reflect"``: ``d c b a | a b c d | d c b a``, ``"wrap"``:
``a b c d | a b c d``, ``"nearest"``: ``a a a a | a b c d | d d d d``, ``"constant"``:
``fill_value``).

The random layers augment only in training (``fit``, or a call with ``training=True``, or a
layer in training mode); in inference (``predict``, ``evaluate``, ``eval()``) they return
their input. With ``seed`` each layer draws from its own generator, seeded once, so a run
repeats the same augmentations; without, from torch's global generator.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from epochal._validation import ArgumentTypeError, check_bool, check_int, is_number
from epochal.layers._support import SeededRandom
from epochal.layers.base import Layer

__all__ = [
    "CenterCrop",
    "RandomFlip",
    "RandomRotation",
    "RandomTranslation",
    "RandomZoom",
    "Resizing",
]

_FILL_MODES = ("reflect", "wrap", "constant", "nearest")
_AFFINE_INTERPOLATIONS = ("nearest", "bilinear")
# Keras' resize interpolations on its torch backend and torch's names for them.
_RESIZE_MODES = {"bilinear": "bilinear", "nearest": "nearest-exact", "bicubic": "bicubic"}
# Keras names it refuses on torch (lanczos) or takes only on TensorFlow / JAX.
_RESIZE_ELSEWHERE = ("lanczos3", "lanczos5", "area", "gaussian", "mitchellcubic", "lanczos")
_FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")


def _data_format(value: Any) -> str:
    if value is None:
        return "channels_last"
    if value not in ("channels_last", "channels_first"):
        raise ValueError(
            "`data_format` must be 'channels_last', 'channels_first' or None. Received: "
            f"data_format={value!r}"
        )
    return str(value)


def _choice(name: str, value: Any, choices: Sequence[str], layer: str) -> str:
    """``value`` when it is one of ``choices``; an unknown name raises NotImplementedError
    (as Keras does), a value that is not a string an ArgumentTypeError."""
    if not isinstance(value, str):
        raise ArgumentTypeError(
            f"`{name}` must be a string, one of {list(choices)}. Received: {name}={value!r}"
        )
    if value not in choices:
        raise NotImplementedError(
            f"{layer}: unknown `{name}` {value!r}. Expected one of {list(choices)}. "
            f"Received: {name}={value!r}"
        )
    return value


def _fill_value(value: Any) -> float:
    if not is_number(value):
        raise ArgumentTypeError(f"`fill_value` must be a number. Received: fill_value={value!r}")
    return float(value)


def _size(name: str, value: Any) -> int:
    return int(check_int(name, value, minimum=1))


def _batched(x: torch.Tensor, layer: str) -> tuple[torch.Tensor, bool]:
    """``x`` as a batch (a rank-3 input is one image) and whether it was one image."""
    if x.dim() == 4:
        return x, False
    if x.dim() == 3:
        return x.unsqueeze(0), True
    raise ValueError(
        f"{layer} expects a rank-3 image (height, width, channels) or a rank-4 batch of "
        f"images; received an input of shape {tuple(x.shape)}."
    )


def _hw_axes(data_format: str) -> tuple[int, int]:
    return (-3, -2) if data_format == "channels_last" else (-2, -1)


# ---------------------------------------------------------------------------- resizing
def _crop_box(height: int, width: int, target_h: int, target_w: int) -> tuple[int, int, int, int]:
    """The centered box of the target's aspect ratio (Keras' ``crop_to_aspect_ratio``)."""
    crop_h = max(min(height, int(float(width * target_h) / target_w)), 1)
    crop_w = max(min(width, int(float(height * target_w) / target_h)), 1)
    return int(float(height - crop_h) / 2), int(float(width - crop_w) / 2), crop_h, crop_w


def resize_images(
    images: torch.Tensor,
    height: int,
    width: int,
    *,
    interpolation: str = "bilinear",
    antialias: bool = False,
    crop_to_aspect_ratio: bool = False,
    pad_to_aspect_ratio: bool = False,
    fill_value: float = 0.0,
    data_format: str = "channels_last",
) -> torch.Tensor:
    """Resizes a batch (or one image) to ``(height, width)`` as Keras' torch backend does.

    Integer images are resized in float32 and rounded back to their dtype; float16 and
    bfloat16 ones are resized in float32.
    """
    x, single = _batched(images, "Resizing")
    if data_format == "channels_last":
        x = x.permute(0, 3, 1, 2)
    out_dtype = x.dtype
    if out_dtype not in (torch.float32, torch.float64):
        x = x.to(torch.float32)
    h, w = int(x.shape[-2]), int(x.shape[-1])
    if crop_to_aspect_ratio:
        top, left, crop_h, crop_w = _crop_box(h, w, height, width)
        x = x[:, :, top : top + crop_h, left : left + crop_w]
    elif pad_to_aspect_ratio:
        pad_h = max(h, int(float(w * height) / width))
        pad_w = max(w, int(float(h * width) / height))
        top = int(float(pad_h - h) / 2)
        left = int(float(pad_w - w) / 2)
        if top > 0 or left > 0:
            # As Keras: the same margin on both sides (the image's own size plus twice it).
            x = F.pad(x, (left, left, top, top), mode="constant", value=float(fill_value))
    smooth = interpolation in ("bilinear", "bicubic")
    out = F.interpolate(
        x,
        size=(height, width),
        mode=_RESIZE_MODES[interpolation],
        align_corners=False if smooth else None,
        antialias=bool(antialias) and smooth,
    )
    if data_format == "channels_last":
        out = out.permute(0, 2, 3, 1)
    if single:
        out = out.squeeze(0)
    if out.dtype != out_dtype:
        if not out_dtype.is_floating_point:
            info = torch.iinfo(out_dtype)
            out = torch.round(out).clamp(info.min, info.max)
        out = out.to(out_dtype)
    return out


class CenterCrop(Layer):
    """Crops the central ``height`` x ``width`` part of images; an image smaller than that
    (on either side) is first cropped to the target's aspect ratio and resized (bilinear),
    as Keras' ``smart_resize``.

    Args (Keras 3): height, width (positive integers), data_format=None
        (``"channels_last"``; or ``"channels_first"``). A rank-3 input is one image.
    """

    casts_inputs = True

    def __init__(
        self, height: int, width: int, data_format: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.height = _size("height", height)
        self.width = _size("width", width)
        self.data_format = _data_format(data_format)
        self.built = True

    def call(self, x: torch.Tensor) -> torch.Tensor:
        _batched(x, "CenterCrop")
        h_axis, w_axis = _hw_axes(self.data_format)
        h, w = int(x.shape[h_axis]), int(x.shape[w_axis])
        if h >= self.height and w >= self.width:
            top, left = (h - self.height) // 2, (w - self.width) // 2
            x = x.narrow(x.dim() + h_axis, top, self.height)
            return x.narrow(x.dim() + w_axis, left, self.width)
        return resize_images(
            x,
            self.height,
            self.width,
            crop_to_aspect_ratio=True,
            data_format=self.data_format,
        )

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "height": self.height,
            "width": self.width,
            "data_format": self.data_format,
        }


class Resizing(Layer):
    """Resizes images to ``(height, width)``, as Keras 3 on torch.

    Args (Keras 3):
        height, width: The output size (positive integers).
        interpolation: ``"bilinear"`` (default), ``"nearest"`` or ``"bicubic"`` (Keras'
            torch backend's; ``"lanczos3"`` / ``"lanczos5"``, which Keras refuses on torch,
            and TensorFlow's ``"area"`` / ``"gaussian"`` / ``"mitchellcubic"`` raise a
            ValueError naming the value).
        crop_to_aspect_ratio: Crop the centered box of the target's aspect ratio first.
            Defaults to `False`.
        pad_to_aspect_ratio: Pad to the target's aspect ratio first (with ``fill_value``).
            Defaults to `False`. Not both.
        fill_mode: ``"constant"`` (the only one Keras has on torch).
        fill_value: The padding value. Defaults to `0.0`.
        antialias: Antialias when downsampling (bilinear and bicubic). Defaults to `False`.
        data_format: ``"channels_last"`` (None) or ``"channels_first"``.

    Integer images come back rounded in their own dtype, as in Keras.
    """

    def __init__(
        self,
        height: int,
        width: int,
        interpolation: str = "bilinear",
        crop_to_aspect_ratio: bool = False,
        pad_to_aspect_ratio: bool = False,
        fill_mode: str = "constant",
        fill_value: float = 0.0,
        antialias: bool = False,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.height = _size("height", height)
        self.width = _size("width", width)
        if isinstance(interpolation, str) and interpolation in _RESIZE_ELSEWHERE:
            raise ValueError(
                f"Resizing: interpolation={interpolation!r} is not supported on Keras' torch "
                f"backend, which epochal follows; accepted: {list(_RESIZE_MODES)}. "
                f"Received: interpolation={interpolation!r}"
            )
        if not isinstance(interpolation, str) or interpolation not in _RESIZE_MODES:
            raise ValueError(
                f"`interpolation` must be one of {list(_RESIZE_MODES)}. "
                f"Received: interpolation={interpolation!r}"
            )
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = check_bool("crop_to_aspect_ratio", crop_to_aspect_ratio)
        self.pad_to_aspect_ratio = check_bool("pad_to_aspect_ratio", pad_to_aspect_ratio)
        if self.crop_to_aspect_ratio and self.pad_to_aspect_ratio:
            raise ValueError(
                "Only one of `pad_to_aspect_ratio` and `crop_to_aspect_ratio` can be True. "
                "Received: crop_to_aspect_ratio=True, pad_to_aspect_ratio=True"
            )
        if fill_mode != "constant":
            raise ValueError(
                "`fill_mode` of Resizing must be 'constant' (the only one Keras has on torch). "
                f"Received: fill_mode={fill_mode!r}"
            )
        self.fill_mode = fill_mode
        self.fill_value = _fill_value(fill_value)
        self.antialias = check_bool("antialias", antialias)
        self.data_format = _data_format(data_format)
        self.built = True

    def call(self, x: torch.Tensor) -> torch.Tensor:
        return resize_images(
            x,
            self.height,
            self.width,
            interpolation=self.interpolation,
            antialias=self.antialias,
            crop_to_aspect_ratio=self.crop_to_aspect_ratio,
            pad_to_aspect_ratio=self.pad_to_aspect_ratio,
            fill_value=self.fill_value,
            data_format=self.data_format,
        )

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "height": self.height,
            "width": self.width,
            "interpolation": self.interpolation,
            "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
            "pad_to_aspect_ratio": self.pad_to_aspect_ratio,
            "fill_mode": self.fill_mode,
            "fill_value": self.fill_value,
            "antialias": self.antialias,
            "data_format": self.data_format,
        }


# ---------------------------------------------------------------------------- affine maps
def _fold(index: torch.Tensor, size: int, fill_mode: str) -> torch.Tensor:
    """Integer pixel indices brought into ``[0, size)`` by ``fill_mode``."""
    if fill_mode == "wrap":
        return torch.remainder(index, size)
    if fill_mode == "reflect":
        period = 2 * size
        folded = torch.remainder(index, period)
        return torch.where(folded < size, folded, period - 1 - folded)
    return index.clamp(0, size - 1)  # "nearest"; "constant" masks what lies outside


def affine_transform(
    images: torch.Tensor,
    transform: torch.Tensor,
    *,
    interpolation: str = "bilinear",
    fill_mode: str = "constant",
    fill_value: float = 0.0,
) -> torch.Tensor:
    """Applies one affine map per image of a channels-last batch ``(B, H, W, C)``.

    ``transform`` is ``(B, 8)``, Keras' ``[a0, a1, a2, b0, b1, b2, c0, c1]``: the output
    pixel ``(y, x)`` reads the input at ``(b0 x + b1 y + b2, a0 x + a1 y + a2)`` (the
    projective terms ``c0, c1`` are zero for rotations, zooms and translations).
    """
    batch, height, width, _ = images.shape
    m = transform.to(device=images.device, dtype=torch.float32)
    ys = torch.arange(height, dtype=torch.float32, device=images.device).view(1, height, 1)
    xs = torch.arange(width, dtype=torch.float32, device=images.device).view(1, 1, width)

    def coeff(i: int) -> torch.Tensor:
        return m[:, i].view(batch, 1, 1)

    src_y = (ys * coeff(4) + xs * coeff(3)) + coeff(5)
    src_x = (ys * coeff(1) + xs * coeff(0)) + coeff(2)
    if interpolation == "nearest":
        nodes_y: list[tuple[torch.Tensor, torch.Tensor | None]] = [
            (torch.round(src_y).to(torch.int64), None)
        ]
        nodes_x: list[tuple[torch.Tensor, torch.Tensor | None]] = [
            (torch.round(src_x).to(torch.int64), None)
        ]
    else:
        y0, x0 = torch.floor(src_y), torch.floor(src_x)
        wy, wx = src_y - y0, src_x - x0
        iy, ix = y0.to(torch.int64), x0.to(torch.int64)
        nodes_y = [(iy, 1 - wy), (iy + 1, wy)]
        nodes_x = [(ix, 1 - wx), (ix + 1, wx)]
    rows = torch.arange(batch, device=images.device).view(batch, 1, 1)
    out: torch.Tensor | None = None
    for iy, wy_ in nodes_y:
        for ix, wx_ in nodes_x:
            value = images[rows, _fold(iy, height, fill_mode), _fold(ix, width, fill_mode)]
            if fill_mode == "constant":
                inside = (iy >= 0) & (iy < height) & (ix >= 0) & (ix < width)
                value = torch.where(inside.unsqueeze(-1), value, value.new_tensor(fill_value))
            if wy_ is not None and wx_ is not None:
                value = (wy_ * wx_).unsqueeze(-1) * value
            out = value if out is None else out + value
    assert out is not None
    return out.to(images.dtype)


def _affine_matrix(
    angle: torch.Tensor, scale_x: torch.Tensor, scale_y: torch.Tensor, height: int, width: int
) -> torch.Tensor:
    """Keras' rotation about the image center (angle in degrees), ``(B, 8)``."""
    angle = angle * torch.tensor(math.pi / 180.0, dtype=angle.dtype, device=angle.device)
    cx = 0.5 * (float(width) - 1)
    cy = 0.5 * (float(height) - 1)
    cos, sin = torch.cos(angle), torch.sin(angle)
    a0, a1 = scale_x * cos, scale_x * -sin
    b0, b1 = scale_y * sin, scale_y * cos
    a2 = cx - cx * a0 - cy * a1
    b2 = cy - cx * b0 - cy * b1
    zeros = torch.zeros_like(angle)
    return torch.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], dim=1)


def _to_channels_last(x: torch.Tensor, data_format: str) -> torch.Tensor:
    return x if data_format == "channels_last" else x.permute(0, 2, 3, 1)


def _from_channels_last(x: torch.Tensor, data_format: str) -> torch.Tensor:
    return x if data_format == "channels_last" else x.permute(0, 3, 1, 2)


def _factor_pair(
    name: str, value: Any, low: float, high: float, *, open_low: bool = False
) -> tuple[float, float]:
    """Keras' factor: a number ``f`` (the range ``(-|f|, |f|)``) or two numbers (sorted),
    each within ``[low, high]`` (``(low, high]`` when ``open_low``)."""
    bounds = f"{'(' if open_low else '['}{low}, {high}]"

    def check(v: Any) -> float:
        if not is_number(v):
            raise ArgumentTypeError(
                f"`{name}` must be a number or a list of two numbers in the range {bounds}. "
                f"Received: {name}={value!r}"
            )
        number = float(v)
        below = number <= low if open_low else number < low
        if not math.isfinite(number) or number > high or below:
            raise ValueError(
                f"`{name}` must be a number or a list of two numbers in the range {bounds}. "
                f"Received: {name}={value!r}"
            )
        return number

    if isinstance(value, list | tuple):
        if len(value) != 2:
            raise ValueError(
                f"`{name}` must be a number or a list of two numbers in the range {bounds}. "
                f"Received: {name}={value!r}"
            )
        first, second = sorted((check(value[0]), check(value[1])))
        return first, second
    number = abs(check(value))
    return -number, number


class _RandomImageLayer(Layer):
    """What the random image layers share: the mode and seed, the training-only rule."""

    casts_inputs = True

    def __init__(self, seed: int | None, data_format: str | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._random = SeededRandom(seed)
        self.seed = seed
        self.data_format = _data_format(data_format)
        self.built = True

    def _uniform(self, n: int, low: float, high: float, device: torch.device) -> torch.Tensor:
        """``n`` draws in ``[low, high)`` (exactly ``low`` when they are equal)."""
        u = self._random.uniform((n,), device)
        return u * (high - low) + torch.tensor(low, dtype=torch.float32, device=device)

    def _hw(self, x: torch.Tensor) -> tuple[int, int]:
        h_axis, w_axis = _hw_axes(self.data_format)
        return int(x.shape[h_axis]), int(x.shape[w_axis])

    def _warp(self, x: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
        images = _to_channels_last(x, self.data_format)
        out = affine_transform(
            images,
            matrix,
            interpolation=self.interpolation,
            fill_mode=self.fill_mode,
            fill_value=self.fill_value,
        )
        return _from_channels_last(out, self.data_format)

    def _check_modes(self, fill_mode: Any, interpolation: Any, fill_value: Any) -> None:
        name = type(self).__name__
        self.fill_mode = _choice("fill_mode", fill_mode, _FILL_MODES, name)
        self.interpolation = _choice("interpolation", interpolation, _AFFINE_INTERPOLATIONS, name)
        self.fill_value = _fill_value(fill_value)

    def transform(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - overridden
        raise NotImplementedError

    def call(self, x: torch.Tensor, training: bool | None = None) -> torch.Tensor:
        batch, single = _batched(x, type(self).__name__)
        if not training:
            return x
        out = self.transform(batch)
        return out.squeeze(0) if single else out

    def _modes_config(self) -> dict[str, Any]:
        return {
            "fill_mode": self.fill_mode,
            "interpolation": self.interpolation,
            "seed": self.seed,
            "fill_value": self.fill_value,
            "data_format": self.data_format,
        }


class RandomFlip(_RandomImageLayer):
    """Flips each image with probability 1/2 in training (the identity in inference).

    Args (Keras 3):
        mode: ``"horizontal"``, ``"vertical"`` or ``"horizontal_and_vertical"`` (default:
            one draw per image flips it along both axes, as Keras).
        seed: Seeds the layer's own generator. Defaults to `None`.
        data_format: ``"channels_last"`` (None) or ``"channels_first"``.
    """

    def __init__(
        self,
        mode: str = "horizontal_and_vertical",
        seed: int | None = None,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(seed, data_format, **kwargs)
        if not isinstance(mode, str) or mode not in _FLIP_MODES:
            raise ValueError(
                f"RandomFlip: `mode` must be one of {list(_FLIP_MODES)}. Received: mode={mode!r}"
            )
        self.mode = mode

    def flip(self, x: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
        """Flips the images of ``x`` where ``flips`` (one bool per image) is true."""
        h_axis, w_axis = _hw_axes(self.data_format)
        where = flips.view(-1, 1, 1, 1)
        out = x
        if self.mode in ("horizontal", "horizontal_and_vertical"):
            out = torch.where(where, torch.flip(out, dims=(w_axis,)), out)
        if self.mode in ("vertical", "horizontal_and_vertical"):
            out = torch.where(where, torch.flip(out, dims=(h_axis,)), out)
        return out

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        flips = self._random.uniform((x.shape[0],), x.device) <= 0.5
        return self.flip(x, flips)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "seed": self.seed,
            "mode": self.mode,
            "data_format": self.data_format,
        }


class RandomRotation(_RandomImageLayer):
    """Rotates each image about its center by a random angle in training.

    Args (Keras 3):
        factor: A fraction of a full turn: a number ``f`` (angles in ``[-f, f] * 360``
            degrees) or ``(low, high)``, within ``[-1, 1]``; positive turns
            counter-clockwise.
        fill_mode: ``"reflect"`` (default), ``"wrap"``, ``"constant"`` or ``"nearest"``.
        interpolation: ``"bilinear"`` (default) or ``"nearest"``.
        seed: Seeds the layer's own generator. Defaults to `None`.
        fill_value: The value of ``fill_mode="constant"``. Defaults to `0.0`.
        data_format: ``"channels_last"`` (None) or ``"channels_first"``.
    """

    def __init__(
        self,
        factor: Any,
        fill_mode: str = "reflect",
        interpolation: str = "bilinear",
        seed: int | None = None,
        fill_value: float = 0.0,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(seed, data_format, **kwargs)
        lower, upper = _factor_pair("factor", 0.0 if factor is None else factor, -1.0, 1.0)
        self.factor = (max(lower, -1.0), upper)
        self._check_modes(fill_mode, interpolation, fill_value)

    def matrix(self, angles: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """The ``(B, 8)`` maps of rotations by ``angles`` (degrees)."""
        ones = torch.ones_like(angles)
        return _affine_matrix(angles, ones, ones, height, width)

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        height, width = self._hw(x)
        angles = self._uniform(x.shape[0], self.factor[0] * 360.0, self.factor[1] * 360.0, x.device)
        return self._warp(x, self.matrix(angles, height, width))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": list(self.factor), **self._modes_config()}


class RandomZoom(_RandomImageLayer):
    """Zooms each image in or out by a random factor in training.

    Args (Keras 3):
        height_factor: A number ``f`` or ``(low, high)`` within ``(-1, 1]``: the image is
            scaled vertically by ``1 + factor`` of the sampled area, so a positive factor
            zooms out and a negative one zooms in (``(-0.3, -0.3)`` enlarges by 30%).
        width_factor: The same horizontally. Defaults to `None` (the height's draw, keeping
            the aspect ratio).
        fill_mode, interpolation, seed, fill_value, data_format: as :class:`RandomRotation`.
    """

    def __init__(
        self,
        height_factor: Any,
        width_factor: Any = None,
        fill_mode: str = "reflect",
        interpolation: str = "bilinear",
        seed: int | None = None,
        fill_value: float = 0.0,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(seed, data_format, **kwargs)
        self.height_factor = _config_value(height_factor)
        self.height_lower, self.height_upper = _factor_pair(
            "height_factor", height_factor, -1.0, 1.0, open_low=True
        )
        self.width_factor = _config_value(width_factor)
        self._width: tuple[float, float] | None = None
        if width_factor is not None:
            self._width = _factor_pair("width_factor", width_factor, -1.0, 1.0, open_low=True)
        self._check_modes(fill_mode, interpolation, fill_value)

    def matrix(
        self, zoom_y: torch.Tensor, zoom_x: torch.Tensor, height: int, width: int
    ) -> torch.Tensor:
        """The ``(B, 8)`` maps of zooms (``1 + factor``) about the image center."""
        x_offset = ((float(width) - 1.0) / 2.0) * (1.0 - zoom_x)
        y_offset = ((float(height) - 1.0) / 2.0) * (1.0 - zoom_y)
        zeros = torch.zeros_like(zoom_x)
        return torch.stack([zoom_x, zeros, x_offset, zeros, zoom_y, y_offset, zeros, zeros], 1)

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        height, width = self._hw(x)
        n = x.shape[0]
        zoom_y = self._uniform(n, 1.0 + self.height_lower, 1.0 + self.height_upper, x.device)
        zoom_x = zoom_y
        if self._width is not None:
            zoom_x = self._uniform(n, 1.0 + self._width[0], 1.0 + self._width[1], x.device)
        return self._warp(x, self.matrix(zoom_y, zoom_x, height, width))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "height_factor": self.height_factor,
            "width_factor": self.width_factor,
            **self._modes_config(),
        }


class RandomTranslation(_RandomImageLayer):
    """Shifts each image by a random fraction of its size in training.

    Args (Keras 3):
        height_factor: A number ``f`` or ``(low, high)`` within ``[-1, 1]``: the vertical
            shift as a fraction of the height (positive moves the content down).
        width_factor: The same horizontally (positive moves it right).
        fill_mode, interpolation, seed, fill_value, data_format: as :class:`RandomRotation`.
    """

    def __init__(
        self,
        height_factor: Any,
        width_factor: Any,
        fill_mode: str = "reflect",
        interpolation: str = "bilinear",
        seed: int | None = None,
        fill_value: float = 0.0,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(seed, data_format, **kwargs)
        self.height_factor = _config_value(height_factor)
        self.height_lower, self.height_upper = _factor_pair(
            "height_factor", height_factor, -1.0, 1.0
        )
        self.width_factor = _config_value(width_factor)
        self.width_lower, self.width_upper = _factor_pair("width_factor", width_factor, -1.0, 1.0)
        self._check_modes(fill_mode, interpolation, fill_value)

    @staticmethod
    def matrix(shift_y: torch.Tensor, shift_x: torch.Tensor) -> torch.Tensor:
        """The ``(B, 8)`` maps of shifts by ``(shift_y, shift_x)`` pixels."""
        ones, zeros = torch.ones_like(shift_x), torch.zeros_like(shift_x)
        return torch.stack([ones, zeros, -shift_x, zeros, ones, -shift_y, zeros, zeros], 1)

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        height, width = self._hw(x)
        n = x.shape[0]
        shift_y = self._uniform(n, self.height_lower, self.height_upper, x.device) * height
        shift_x = self._uniform(n, self.width_lower, self.width_upper, x.device) * width
        return self._warp(x, self.matrix(shift_y, shift_x))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "height_factor": self.height_factor,
            "width_factor": self.width_factor,
            **self._modes_config(),
        }


def _config_value(value: Any) -> Any:
    """A factor as ``get_config`` writes it (a pair as a list)."""
    return list(value) if isinstance(value, tuple) else value
