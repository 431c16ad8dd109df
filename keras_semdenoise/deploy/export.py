"""SavedModel export for TF Serving: one denoising core, thin signatures per input type.

Layout: ``<base>/<name>/<version>/`` (TF Serving's). Signatures:

- ``serving_default``: ``images`` uint8 [N, H, W, 3] (any size) -> ``denoised`` uint8.
- ``denoise_float``: ``images`` float32 [N, H, W, 3] in [0, 1] (+ noise) -> ``denoised`` float32.
- ``denoise_bytes``: ``image_bytes`` string [N] (PNG/JPEG/BMP/GIF) -> ``denoised_bytes`` PNG strings
  (the ``_bytes`` suffix makes TF Serving's REST API base64-encode them).

Every signature checks its input (rank, channels, non-empty batch, at most ``MAX_PIXELS`` pixels per
image) and fails that request with a clear message; the model keeps serving. The export is atomic: it
is written to a hidden temporary folder beside the version folder and renamed into place.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from keras_semdenoise import atomic
from keras_semdenoise.deploy import graph_transforms

MAX_PIXELS = 40_000_000  # per image per request: beyond this, use tiled inference offline


def _check_images(images, tf):
    shape = tf.shape(images)
    checks = [
        tf.debugging.assert_equal(tf.rank(images), 4, message="images must have shape [N, H, W, 3]"),
        tf.debugging.assert_equal(shape[-1], 3, message="images must have 3 (RGB) channels"),
        tf.debugging.assert_positive(shape[0], message="empty batch: send at least one image"),
        tf.debugging.assert_less_equal(
            tf.cast(shape[1], tf.int64) * tf.cast(shape[2], tf.int64),
            tf.constant(MAX_PIXELS, tf.int64),
            message=f"image too large for one request (more than {MAX_PIXELS} pixels)",
        ),
    ]
    with tf.control_dependencies(checks):
        return tf.identity(images)


def build_archive(model):
    """A ``keras.export.ExportArchive`` holding ``model`` with the three serving signatures."""
    import keras
    import tensorflow as tf

    def denoise_core(images):
        """float32 [N, H, W, 3] -> float32 [N, H, W, 3]: the one place the model runs."""
        return model(_check_images(images, tf), training=False)

    def to_uint8(images):
        return tf.cast(tf.round(tf.clip_by_value(images, 0.0, 1.0) * 255.0), tf.uint8)

    def serve_uint8(images):
        return {"denoised": to_uint8(denoise_core(tf.cast(images, tf.float32) / 255.0))}

    def serve_float(images):
        return {"denoised": denoise_core(images)}

    def serve_bytes(image_bytes):
        checked = tf.debugging.assert_positive(tf.size(image_bytes), message="empty batch: send at least one image")
        with tf.control_dependencies([checked]):
            image_bytes = tf.identity(image_bytes)

        def one(encoded):
            image = tf.io.decode_image(encoded, channels=3, expand_animations=False, dtype=tf.uint8)
            denoised = to_uint8(denoise_core(tf.cast(image, tf.float32)[None] / 255.0))[0]
            return tf.io.encode_png(denoised)

        return {"denoised_bytes": tf.map_fn(one, image_bytes, fn_output_signature=tf.string)}

    archive = keras.export.ExportArchive()
    archive.track(model)
    image_shape = [None, None, None, 3]
    archive.add_endpoint("serving_default", serve_uint8, [tf.TensorSpec(image_shape, tf.uint8, name="images")])
    archive.add_endpoint("denoise_float", serve_float, [tf.TensorSpec(image_shape, tf.float32, name="images")])
    archive.add_endpoint("denoise_bytes", serve_bytes, [tf.TensorSpec([None], tf.string, name="image_bytes")])
    return archive


def next_version(model_root: str) -> int:
    """One more than the largest numeric version folder in ``model_root`` (1 if none)."""
    versions = [int(d) for d in os.listdir(model_root) if d.isdigit()] if os.path.isdir(model_root) else []
    return max(versions, default=0) + 1


def export_savedmodel(model, base_dir: str, name: str = "semdenoise", version: int | None = None) -> str:
    """Writes ``model`` as ``<base_dir>/<name>/<version>/`` for TF Serving; returns that path.

    Batch norm is folded into the convolutions first (``graph_transforms.fold_batch_norm``: same
    function); a model already folded or in bf16 (``inference.load_denoiser(precision="bf16")``) is
    exported as it is.

    Raises:
        FileExistsError: the version folder already exists (versions are never overwritten).
    """
    model_root = os.path.join(base_dir, name)
    os.makedirs(model_root, exist_ok=True)
    version = next_version(model_root) if version is None else int(version)
    final = os.path.join(model_root, str(version))
    if os.path.exists(final):
        raise FileExistsError(f"{final} exists: versions are never overwritten, pick another --version")
    tmp = tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=model_root)  # not numeric: TF Serving ignores it
    try:
        build_archive(graph_transforms.fold_batch_norm(model)).write_out(tmp, verbose=False)
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; a server running as another user must read it
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


TFLITE_PRECISIONS = ("fp32", "fp16", "int8")
# TFLite calibrates each activation's int8 range to its min and max over all patches: more patches widen
# the ranges to rare extremes and coarsen the grid. Against Keras fp32 at sigma 25 (6 Kodak24 + 6 CBSD68
# images), 8 patches lost 0.06-0.10 dB for 5 of 6 seeds (0.20 for one), 64 lost 0.14-0.18 dB; seed 0 with 8
# loses 0.07 / 0.06 dB on all of Kodak24 / CBSD68 (docs/precision/int8.md).
CALIBRATION_PATCHES = 8
CALIBRATION_SIZE = 64


def calibration_images(
    folder: str, sigma_255: float, count: int = CALIBRATION_PATCHES, size: int = CALIBRATION_SIZE, seed: int = 0
) -> list:
    """``count`` noisy training patches, each (size, size, 3) float32, for int8 calibration.

    Drawn as training batches are (``patches.sample_batch``: random image, crop, flip/rotation, Gaussian
    noise of ``sigma_255``) from one seeded generator, so the same arguments give the same patches and
    an int8 export is reproducible (its PSNR depends on the patches: ``CALIBRATION_PATCHES``).
    """
    import numpy as np

    from keras_semdenoise.data import patches

    sources = patches.parse_sources(folder)
    pools = patches.load_training_images(sources, size)
    weights = np.asarray([source.weight for source in sources], np.float64)
    weights /= weights.sum()
    noisy, _ = patches.sample_batch(np.random.default_rng(seed), pools, weights, size, count, sigma_255, None)
    return list(noisy)


def export_tflite(model, path: str, precision: str = "fp32", representative_images=None) -> str:
    """Converts the denoiser to TFLite with a dynamic input [1, H, W, 3] float32 (resize at run time).

    Conversion goes through a SavedModel (``from_saved_model``), not ``from_concrete_functions``,
    which silently drops the weights of Keras 3 models. ``int8`` is full-integer quantisation (all ops
    int8, float32 at the edges) calibrated on ``representative_images``: an iterable of
    (h, w, 3) float32 noisy patches (``calibration_images``); the model is first passed through
    ``quantization.equalize_concat_inputs`` (same function, int8-friendly concat ranges). Batch norm is
    folded into the convolutions for every precision, and the transposed convolutions become
    ``graph_transforms.PhaseConvUpsample`` (a 2x2 conv and a pixel shuffle, same function): TFLite's
    TRANSPOSE_CONV takes its output shape as a run-time tensor with a dynamic input, which XNNPACK
    does not delegate, so a third of the multiply-adds ran in TFLite's slower own kernels and int8 was
    slower than Keras bf16 (``docs/precision/int8.md``); now every conv, concat and add runs in XNNPACK
    at any input size (``TFLiteDenoiser.undelegated_ops``). The file is written atomically.
    """
    import keras
    import tensorflow as tf

    if precision not in TFLITE_PRECISIONS:
        raise ValueError(f"precision must be one of {TFLITE_PRECISIONS}, got {precision!r}")
    if precision == "int8" and representative_images is None:
        raise ValueError("int8 needs representative_images (noisy training patches) for calibration")
    model = graph_transforms.fold_batch_norm(model)  # same function, fewer ops
    if precision == "int8":
        from keras_semdenoise.deploy import quantization

        representative_images = list(representative_images)
        model = quantization.equalize_concat_inputs(model, representative_images)
    model = graph_transforms.transposed_conv_as_phase_conv(model)
    with tempfile.TemporaryDirectory() as saved:
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint(
            "denoise",
            lambda images: model(images, training=False),
            [tf.TensorSpec([1, None, None, 3], tf.float32, name="images")],
        )
        archive.write_out(saved, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved, signature_keys=["denoise"])
        if precision == "fp16":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        elif precision == "int8":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = lambda: (
                [image[None].astype("float32")] for image in representative_images
            )
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        flatbuffer = converter.convert()
    return atomic.write_bytes(path, flatbuffer)


class TFLiteDenoiser:
    """Runs a TFLite denoiser with ``ai-edge-litert`` (``tf.lite.Interpreter`` is deprecated).

    ``denoiser(image)``: (H, W, 3) float32 in [0, 1] + noise -> (H, W, 3) float32; the input tensor
    is resized to each new image size (about 3% of a call when the size alternates). The interpreter's
    default XNNPACK delegate runs the network, with ``num_threads`` threads; an ``export_tflite`` model
    leaves only the pad/crop size arithmetic and the mirror padding of the 3-channel input outside it
    (``undelegated_ops``).
    """

    def __init__(self, path: str, num_threads: int = 2):
        from ai_edge_litert.interpreter import Interpreter

        if not os.path.exists(path):
            raise FileNotFoundError(f"TFLite model not found: {path}")
        self.interpreter = Interpreter(model_path=path, num_threads=num_threads)
        self.input_index = self.interpreter.get_input_details()[0]["index"]
        self.output_index = self.interpreter.get_output_details()[0]["index"]
        self.shape = None

    def undelegated_ops(self) -> list[str]:
        """Names of the ops the interpreter runs itself, outside XNNPACK, at the current input size.

        A delegated partition shows as one DELEGATE node whose inputs and outputs are the partition's
        boundary tensors; the original ops it replaced are those between them. Uses the interpreter's
        private ``_get_ops_details`` (the only view of the delegated graph LiteRT's Python API gives).
        """
        if self.shape is None:
            self.interpreter.allocate_tensors()  # delegates are applied on the first allocation
        ops = {op["index"]: op for op in self.interpreter._get_ops_details()}
        producer = {
            tensor: index for index, op in ops.items() if op["op_name"] != "DELEGATE" for tensor in op["outputs"]
        }
        replaced = set()
        for delegate in (op for op in ops.values() if op["op_name"] == "DELEGATE"):
            boundary = set(delegate["inputs"])
            pending = list(delegate["outputs"])
            while pending:
                tensor = pending.pop()
                if tensor in boundary or tensor not in producer or producer[tensor] in replaced:
                    continue
                replaced.add(producer[tensor])
                pending.extend(t for t in ops[producer[tensor]]["inputs"] if t >= 0)
        return [
            op["op_name"] for index, op in sorted(ops.items()) if op["op_name"] != "DELEGATE" and index not in replaced
        ]

    def __call__(self, image):
        import numpy as np

        shape = [1, *image.shape]
        if shape != self.shape:
            self.interpreter.resize_tensor_input(self.input_index, shape)
            self.interpreter.allocate_tensors()
            self.shape = shape
        self.interpreter.set_tensor(self.input_index, np.asarray(image, np.float32)[None])
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output_index)[0]
