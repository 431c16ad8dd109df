"""Padding an NHWC batch to a multiple of the denoiser's total stride and cropping it back: the two layers that
let the multi-scale denoiser (``models.denoiser``) take any ``H x W``, 1x1 and odd sizes included."""

from __future__ import annotations

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="keras_semdenoise")
class SymmetricPadToMultiple(layers.Layer):
    """Pads the bottom and right edges of an NHWC batch to a multiple of ``multiple``.

    Mirror ("symmetric") padding is applied in up to ``log2(multiple)`` steps,
    each at most as wide as the image is so far, so even a 1x1 image can be
    padded (1 -> 2 -> 4 for a multiple of 4). Channels stay static.

    Input: ``(N, H, W, C)`` float. Output: ``(N, H', W', C)`` with ``H' >= H``,
    ``W' >= W`` the next multiples of ``multiple``.
    """

    def __init__(self, multiple: int, **kwargs):
        super().__init__(**kwargs)
        if multiple < 1 or (multiple & (multiple - 1)) != 0:
            raise ValueError(f"multiple must be a power of two >= 1, got {multiple}")
        self.multiple = int(multiple)

    def call(self, x):
        if self.multiple == 1:
            return x
        steps = self.multiple.bit_length() - 1
        shape = ops.shape(x)
        channels = x.shape[-1]
        height, width = shape[1], shape[2]
        remaining_h = (-height) % self.multiple
        remaining_w = (-width) % self.multiple
        for _ in range(steps):
            cur_h, cur_w = ops.shape(x)[1], ops.shape(x)[2]
            pad_h = _minimum(remaining_h, cur_h)
            pad_w = _minimum(remaining_w, cur_w)
            x = ops.pad(x, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]], mode="symmetric")
            remaining_h = remaining_h - pad_h
            remaining_w = remaining_w - pad_w
        if channels is not None:
            x = ops.reshape(x, (-1, ops.shape(x)[1], ops.shape(x)[2], channels))
        return x

    def compute_output_shape(self, input_shape):
        def up(size):
            if size is None:
                return None
            return -(-size // self.multiple) * self.multiple

        return (input_shape[0], up(input_shape[1]), up(input_shape[2]), input_shape[3])

    def get_config(self):
        return {**super().get_config(), "multiple": self.multiple}


@keras.saving.register_keras_serializable(package="keras_semdenoise")
class CropLike(layers.Layer):
    """Crops ``x`` (N, H', W', C) to the height and width of ``reference`` (N, H, W, *)."""

    def call(self, x, reference):
        shape = ops.shape(reference)
        return x[:, : shape[1], : shape[2], :]

    def compute_output_shape(self, x_shape, reference_shape):
        return (x_shape[0], reference_shape[1], reference_shape[2], x_shape[3])


def _minimum(a, b):
    if isinstance(a, int) and isinstance(b, int):
        return min(a, b)
    return ops.minimum(a, b)
