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

MAX_PIXELS = 40_000_000  # per image per request: beyond this, use tiled inference offline


def _check_images(images, tf):
    shape = tf.shape(images)
    checks = [
        tf.debugging.assert_equal(tf.rank(images), 4, message="images must have shape [N, H, W, 3]"),
        tf.debugging.assert_equal(shape[-1], 3, message="images must have 3 (RGB) channels"),
        tf.debugging.assert_positive(shape[0], message="empty batch: send at least one image"),
        tf.debugging.assert_less_equal(
            tf.cast(shape[1], tf.int64) * tf.cast(shape[2], tf.int64), tf.constant(MAX_PIXELS, tf.int64),
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
        build_archive(model).write_out(tmp, verbose=False)
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; a server running as another user must read it
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
