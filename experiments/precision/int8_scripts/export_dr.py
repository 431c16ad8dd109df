"""Dynamic-range quantisation (int8 weights, float activations quantised on the fly: XNNPACK qd8 kernels)."""

import os
import tempfile

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import keras
import tensorflow as tf

from keras_semdenoise.deploy import graph_transforms, inference

model = graph_transforms.transposed_conv_as_phase_conv(
    graph_transforms.fold_batch_norm(inference.load_denoiser("saved_models/denoiser_sigma25.keras"))
)
saved = tempfile.mkdtemp()
archive = keras.export.ExportArchive()
archive.track(model)
archive.add_endpoint(
    "denoise",
    lambda images: model(images, training=False),
    [tf.TensorSpec([1, None, None, 3], tf.float32, name="images")],
)
archive.write_out(saved, verbose=False)
c = tf.lite.TFLiteConverter.from_saved_model(saved, signature_keys=["denoise"])
c.optimizations = [tf.lite.Optimize.DEFAULT]
flat = c.convert()
open("/tmp/int8/ph_dr.tflite", "wb").write(flat)
