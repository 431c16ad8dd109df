"""Speed and quality benchmark (``make bench``): every way to run the denoiser, on the same noisy inputs.

Measures, in one run on this machine:
- PSNR (protocol of ``keras_semdenoise.evaluation``) on CBSD68 and Kodak24 (all images, or ``--limit``) for
  Keras fp32 and bf16 (tf.function graphs), the bf16 SavedModel, TFLite fp32 / int8 and CBM3D (PyPI bm3d);
- seconds per megapixel of each: the median of ``--repeats`` timed passes (min and max shown) over the first
  ``--time_images`` images of each set, the same images for every method, CBM3D included (its PSNR is on
  those images); a DnCNN (``peers.DnCNN``, untrained) for time only;
- the peak rate of this CPU per precision, nominal (cpuinfo, detected core) and measured (``bench.peaks``), and
  the fraction of each that the model reaches in fp32, bf16 and int8;
- training throughput, and peak memory of tiled bf16 inference on a 24-megapixel image;
- the load average before and after: a busy machine is flagged in the report.

Writes ``bench/results/bench.json`` and ``BENCHMARKS.md`` (``bench.report``).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import app, flags

from bench import peaks, report
from keras_semdenoise import atomic, evaluation, metrics, noise
from keras_semdenoise.data import images
from keras_semdenoise.data.roots import default_data_root
from keras_semdenoise.deploy import export, inference
from keras_semdenoise.evaluation import cbm3d
from keras_semdenoise.models import shipped

FLAGS = flags.FLAGS
flags.DEFINE_float("sigma", noise.DEFAULT_SIGMA_255, "Noise level (0..255).")
flags.DEFINE_list("sets", ["CBSD68", "Kodak24"], "Test sets under the data root.")
flags.DEFINE_integer("limit", 0, "First N images per set for PSNR (0: all).")
flags.DEFINE_integer("time_images", 8, "First N images per set timed (every method, CBM3D included).")
flags.DEFINE_integer("repeats", 5, "Timed passes per method; the report gives their median, min and max.")
flags.DEFINE_string("model", None, "A .keras denoiser (default: the shipped model for --sigma).")
flags.DEFINE_string("out", "bench/results/bench.json", "JSON output.")
flags.DEFINE_string("markdown", "BENCHMARKS.md", "Markdown output.")
flags.DEFINE_bool("memory", True, "Measure tiled bf16 inference memory on a 24-megapixel image (subprocess).")
flags.DEFINE_bool("training", True, "Measure training throughput.")


def conv_flops_per_pixel(model, size: int = 64) -> float:
    """Multiply-adds x 2 of every conv / transposed conv per input pixel, from the layers' shapes."""
    import keras

    convs = [layer for layer in model.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose))]
    probe = keras.Model(model.input, [layer.output for layer in convs])
    outputs = probe(np.zeros((1, size, size, 3), np.float32))
    flops = 0.0
    for layer, output in zip(convs, outputs):
        kh, kw, cin, cout = (
            layer.kernel.shape
            if isinstance(layer, keras.layers.Conv2D)
            else (layer.kernel.shape[0], layer.kernel.shape[1], layer.kernel.shape[3], layer.kernel.shape[2])
        )
        positions = output.shape[1] * output.shape[2]
        if isinstance(layer, keras.layers.Conv2DTranspose):
            positions = positions / (layer.strides[0] * layer.strides[1])  # each input position scatters once
        flops += 2.0 * kh * kw * cin * cout * positions
    return flops / (size * size)


def noisy_sets(datasets: dict, sigma: float) -> dict:
    """``{set: [(name, clean, noisy)]}`` with the evaluation protocol's seeded noise."""
    return {
        s: [(n, c, noise.add_seeded_gaussian_noise(c, sigma, n)) for n, c in pairs] for s, pairs in datasets.items()
    }


def quality(method, sets: dict, sigma: float) -> dict:
    """``{set: {"psnr": mean, "per_image": {name: psnr}}}`` over every image (each new shape warms up once),
    measured as ``evaluation.measure_image`` does: the protocol's seeded noise, clipped 8-bit output."""
    result = {}
    for set_name, triples in sets.items():
        per_image = {
            name: evaluation.measure_image(lambda noisy, _sigma: method(noisy), name, clean, sigma)["psnr"]
            for name, clean, _ in triples
        }
        result[set_name] = {"psnr": float(np.mean(list(per_image.values()))), "per_image": per_image}
    return result


def speed(method, sets: dict, count: int, repeats: int, warm: bool = True) -> tuple[dict, list]:
    """Seconds per megapixel over the first ``count`` images of each set: median/min/max of ``repeats`` passes.

    With ``warm``, every image runs once untimed first (tracing, XLA, TFLite re-planning for a new shape).
    Returns the timing and the outputs of the last pass, ``[(set, name, clean, output)]``.
    """
    chosen = [(s, n, c, x) for s, triples in sets.items() for n, c, x in triples[:count]]
    megapixels = sum(c.shape[0] * c.shape[1] for _, _, c, _ in chosen) / 1e6
    if warm:
        for _, _, _, noisy in chosen:
            method(noisy)
    passes, outputs = [], []
    for _ in range(repeats):
        outputs, start = [], time.perf_counter()
        for set_name, name, clean, noisy in chosen:
            outputs.append((set_name, name, clean, method(noisy)))
        passes.append((time.perf_counter() - start) / megapixels)
    return {
        "median": float(np.median(passes)),
        "min": float(np.min(passes)),
        "max": float(np.max(passes)),
        "repeats": repeats,
        "images": len(chosen),
        "megapixels": megapixels,
    }, outputs


def training_throughput(model_path: str, sigma: float, steps: int = 10) -> dict:
    import keras

    folder = os.path.join(default_data_root(), "CBSD432")
    dataset = images.training_dataset(folder, 48, 32, sigma_255=sigma, shuffle_seed=0)
    iterator = iter(dataset)
    next(iterator)
    start = time.perf_counter()
    for _ in range(steps * 3):
        batch = next(iterator)
    pipeline = 32 * steps * 3 / (time.perf_counter() - start)
    model = inference.load_denoiser(model_path)
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="mse", jit_compile=False)
    model.train_on_batch(*batch)
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(*batch)
    step = 32 * steps / (time.perf_counter() - start)
    return {"pipeline_patches_per_second": pipeline, "train_step_patches_per_second": step}


# Peak memory is VmHWM of the child's own address space: getrusage's ru_maxrss is carried across
# fork + execve on Linux, so it would report the (large) bench process's RSS instead.
MEMORY_SCRIPT = """
import sys, time, numpy as np
from keras_semdenoise.deploy import inference
model = inference.load_denoiser(sys.argv[1], precision=sys.argv[2])
image = np.random.default_rng(0).uniform(size=(4000, 6000, 3)).astype(np.float32)
start = time.perf_counter()
out = inference.denoise(model, image)
seconds = time.perf_counter() - start
hwm_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(out.shape, seconds, hwm_kb)
"""


def tiled_memory(model_path: str, precision: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, model_path, precision],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        timeout=3600,
    )
    if result.returncode != 0:
        return {"error": result.stderr[-500:]}
    shape, seconds, max_rss_kb = result.stdout.strip().splitlines()[-1].rsplit(" ", 2)
    return {
        "megapixels": 24.0,
        "precision": precision,
        "seconds": float(seconds),
        "peak_rss_gib": int(max_rss_kb) / 2**20,
    }


def our_methods(model_path: str, root: str, sigma: float, folder: str) -> dict:
    """``{name: (precision, callable (H, W, 3) -> (H, W, 3))}``: every way to run our model that is timed."""
    import tensorflow as tf

    fp32 = inference.load_denoiser(model_path, precision="fp32")
    bf16 = inference.load_denoiser(model_path, precision="bf16")
    graph32 = tf.function(lambda x: fp32(x, training=False), reduce_retracing=True)
    graph16 = tf.function(lambda x: bf16(x, training=False), reduce_retracing=True)
    served = tf.saved_model.load(export.export_savedmodel(bf16, folder, "bench"))
    methods = {
        "Keras fp32 (graph)": ("fp32", lambda x: graph32(x[None])[0].numpy()),
        "Keras bf16 (graph)": ("bf16", lambda x: graph16(x[None])[0].numpy()),
        "SavedModel bf16 (denoise_float)": (
            "bf16",
            lambda x: served.signatures["denoise_float"](images=tf.constant(x[None]))["denoised"][0].numpy(),
        ),
    }
    calibration = export.calibration_images(os.path.join(root, "CBSD432"), sigma)
    for precision, threads in (("fp32", (2,)), ("int8", (1, 2))):
        path = export.export_tflite(
            fp32, os.path.join(folder, f"{precision}.tflite"), precision, calibration if precision == "int8" else None
        )
        for count in threads:
            methods[f"TFLite {precision}, {count} thread{'s' if count > 1 else ''}"] = (
                precision,
                export.TFLiteDenoiser(path, count),
            )
    return methods


def main(argv):
    del argv
    import keras
    import tensorflow as tf

    load_before = os.getloadavg()
    sigma = noise.check_sigma(FLAGS.sigma)
    model_path = FLAGS.model or shipped.shipped_model_for_sigma(sigma)[0]
    root = default_data_root()
    datasets = {s: images.evaluation_images(os.path.join(root, s), FLAGS.limit or None) for s in FLAGS.sets}
    sets = noisy_sets(datasets, sigma)
    nominal = peaks.nominal_peaks()
    result = {
        "machine": evaluation.machine_description(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "sigma": sigma,
        "model": model_path,
        "protocol": evaluation.PROTOCOL,
        "cpu": nominal["text"],
        "cores": os.cpu_count() or 1,
        "load_before": list(load_before),
        "time_images": FLAGS.time_images,
        "repeats": FLAGS.repeats,
        "methods": {},
    }
    print(f"load average before: {load_before[0]:.2f}", flush=True)
    result["peaks"] = {
        "nominal": {p: nominal[p] for p in peaks.PRECISIONS},
        "measured": peaks.measured_peaks(FLAGS.repeats),
    }
    with tempfile.TemporaryDirectory() as folder:
        for name, (precision, method) in our_methods(model_path, root, sigma, folder).items():
            timing, _ = speed(method, sets, FLAGS.time_images, FLAGS.repeats)
            result["methods"][name] = {"precision": precision, "time": timing, "sets": quality(method, sets, sigma)}
            print(f"{name}: {timing['median']:.3f} s/MP", flush=True)
    timing, outputs = speed(lambda x: cbm3d.cbm3d_denoise(x, sigma), sets, FLAGS.time_images, FLAGS.repeats, warm=False)
    cbm3d_sets = {}
    for set_name, name, clean, output in outputs:
        cbm3d_sets.setdefault(set_name, {"per_image": {}})["per_image"][name] = metrics.psnr_uint8(clean, output)
    for cell in cbm3d_sets.values():
        cell["psnr"] = float(np.mean(list(cell["per_image"].values())))
    result["methods"]["CBM3D"] = {"precision": "fp64", "time": timing, "sets": cbm3d_sets}
    print(f"CBM3D: {timing['median']:.3f} s/MP", flush=True)
    from keras_semdenoise.models.peers import DnCNN

    dncnn = DnCNN()  # untrained here: the trained peer's rows are in the README's tables
    dncnn_graph = tf.function(lambda x: dncnn(x, training=False), reduce_retracing=True)
    timing, _ = speed(lambda x: dncnn_graph(x[None])[0].numpy(), sets, FLAGS.time_images, FLAGS.repeats)
    result["methods"]["DnCNN architecture fp32 (untrained, time only)"] = {
        "precision": "fp32",
        "time": timing,
        "sets": {},
    }
    result["flops_per_pixel"] = conv_flops_per_pixel(inference.load_denoiser(model_path))
    result["dncnn_flops_per_pixel"] = conv_flops_per_pixel(dncnn)
    if FLAGS.training:
        result["training"] = training_throughput(model_path, sigma)
    if FLAGS.memory:
        result["tiled_24mp"] = tiled_memory(model_path, "bf16")
    result["load_after"] = list(os.getloadavg())
    atomic.write_json(FLAGS.out, result, indent=1)
    text = report.markdown(result)
    atomic.write_text(FLAGS.markdown, text + "\n")
    print(text)


if __name__ == "__main__":
    app.run(main)
