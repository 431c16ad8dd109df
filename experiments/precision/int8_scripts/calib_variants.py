"""int8 exports with other calibration sets (count, size, seed) and one 16x8 (int16 activations) export."""

import os
import sys
import tempfile

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import keras
import tensorflow as tf

from keras_semdenoise.deploy import export, graph_transforms, inference, quantization

base = inference.load_denoiser("saved_models/denoiser_sigma25.keras")
for spec in sys.argv[1:]:
    if spec == "16x8":
        cal = export.calibration_images("/work/shared/data/CBSD432", 25)
        model = graph_transforms.transposed_conv_as_phase_conv(
            quantization.equalize_concat_inputs(graph_transforms.fold_batch_norm(base), cal)
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
        c.representative_dataset = lambda: ([im[None].astype("float32")] for im in cal)
        c.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8,
            tf.lite.OpsSet.TFLITE_BUILTINS,
        ]
        flat = c.convert()
        open("/tmp/int8/ph_16x8.tflite", "wb").write(flat)
    else:
        count, size, seed = map(int, spec.split(","))
        cal = export.calibration_images("/work/shared/data/CBSD432", 25, count=count, size=size, seed=seed)
        export.export_tflite(base, f"/tmp/int8/cal_{count}_{size}_{seed}.tflite", "int8", cal)
    print(spec, "done", flush=True)
