"""Speed and quality benchmark (``make bench``): every way to run the denoiser, on the same noisy inputs.

Measures, in one run on this machine:
- PSNR (protocol of ``keras_semdenoise.evaluation``) on CBSD68 and Kodak24 and seconds per megapixel for
  Keras (tf.function graph), Keras + XLA, the exported SavedModel, TFLite fp32/fp16/int8 with 1 and
  2 threads, CBM3D (PyPI bm3d) and a DnCNN-architecture network built in Keras (time only: untrained);
- FLOPs per pixel of our model and the achieved fraction of this CPU's fp32 peak;
- training throughput: the tf.data pipeline alone vs the training step (patches/s);
- peak memory of tiled inference on a 24-megapixel image.

Writes ``bench/results/bench.json`` and ``BENCHMARKS.md``. ``--limit`` takes the first N images of each
set (CBM3D costs ~12 s per CBSD68 image and ~29 s per Kodak image on 2 cores).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import app, flags

from keras_semdenoise import baselines, evaluation, export, inference, metrics, noise, training
from keras_semdenoise.data import images

FLAGS = flags.FLAGS
flags.DEFINE_float("sigma", 25.0, "Noise level (0..255).")
flags.DEFINE_list("sets", ["CBSD68", "Kodak24"], "Test sets under the data root.")
flags.DEFINE_integer("limit", 0, "First N images per set (0: all).")
flags.DEFINE_integer("cbm3d_limit", 2, "Images per set timed with CBM3D (0: as --limit). Its PSNR comes from "
                     "this run on those images.")
flags.DEFINE_string("model", None, "A .keras denoiser (default: the shipped model for --sigma).")
flags.DEFINE_string("out", "bench/results/bench.json", "JSON output.")
flags.DEFINE_string("markdown", "BENCHMARKS.md", "Markdown output.")
flags.DEFINE_bool("memory", True, "Measure tiled inference memory on a 24-megapixel image (subprocess).")


def conv_flops_per_pixel(model, size: int = 64) -> float:
    """Multiply-adds x 2 of every conv / transposed conv per input pixel, from the layers' shapes."""
    import keras

    probe = keras.Model(model.input, [layer.output for layer in model.layers
                                      if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose))])
    outputs = probe(np.zeros((1, size, size, 3), np.float32))
    convs = [layer for layer in model.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose))]
    flops = 0.0
    for layer, output in zip(convs, outputs):
        kh, kw, cin, cout = layer.kernel.shape if isinstance(layer, keras.layers.Conv2D) else (
            layer.kernel.shape[0], layer.kernel.shape[1], layer.kernel.shape[3], layer.kernel.shape[2])
        positions = output.shape[1] * output.shape[2]
        if isinstance(layer, keras.layers.Conv2DTranspose):
            positions = positions / (layer.strides[0] * layer.strides[1])  # each input position scatters once
        flops += 2.0 * kh * kw * cin * cout * positions
    return flops / (size * size)


def cpu_peak_gflops() -> tuple[float, str]:
    """Nominal fp32 peak: cores x GHz x FLOPs/cycle (2 FMA units x SIMD width x 2)."""
    info = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    mhz = [float(line.split(":")[1]) for line in info.splitlines() if line.startswith("cpu MHz")]
    flags_line = next((line for line in info.splitlines() if line.startswith("flags")), "")
    lanes = 16 if "avx512f" in flags_line else 8 if "avx2" in flags_line else 4
    ghz = (max(mhz) if mhz else 2000.0) / 1000.0
    cores = os.cpu_count() or 1
    model_name = next((line.split(":")[1].strip() for line in info.splitlines() if line.startswith("model name")), "")
    return cores * ghz * 2 * lanes * 2, f"{model_name}, {cores} cores at {ghz:.2f} GHz, {lanes}-lane fp32 FMA x2"


def build_dncnn(depth: int = 17, width: int = 64):
    """DnCNN (Zhang et al. 2017) architecture in Keras: conv+ReLU, (depth-2) x conv+BN+ReLU, conv; residual."""
    import keras
    from keras import layers

    inputs = keras.Input((None, None, 3))
    x = layers.Conv2D(width, 3, padding="same", activation="relu")(inputs)
    for _ in range(depth - 2):
        x = layers.ReLU()(layers.BatchNormalization()(layers.Conv2D(width, 3, padding="same", use_bias=False)(x)))
    return keras.Model(inputs, layers.Subtract()([inputs, layers.Conv2D(3, 3, padding="same")(x)]), name="dncnn")


def time_method(name, method, datasets, sigma, limit=None):
    """Runs ``method`` (noisy (H, W, 3) -> image) on every image; PSNR per set and seconds per megapixel.

    The first image of each new shape is run once untimed (tracing, XLA compilation, TFLite tensor
    resizing), so the time is steady-state inference.
    """
    result = {"sets": {}}
    seconds, megapixels, shapes = 0.0, 0.0, set()
    for set_name, pairs in datasets.items():
        psnrs = []
        for image_name, clean in pairs[:limit] if limit else pairs:
            noisy = noise.add_seeded_gaussian_noise(clean, sigma, image_name)
            if noisy.shape not in shapes:
                shapes.add(noisy.shape)
                method(noisy)
            start = time.perf_counter()
            output = method(noisy)
            seconds += time.perf_counter() - start
            megapixels += clean.shape[0] * clean.shape[1] / 1e6
            psnrs.append(metrics.psnr_uint8(clean, output))
        result["sets"][set_name] = {"psnr": float(np.mean(psnrs)), "images": len(psnrs), "per_image": psnrs}
    result["seconds_per_megapixel"] = seconds / megapixels
    print(f"{name}: {result['seconds_per_megapixel']:.3f} s/MP, "
          + ", ".join(f"{k} {v['psnr']:.2f} dB" for k, v in result["sets"].items()), flush=True)
    return result


def mean_gain(ours: dict, other: dict, set_name: str) -> float:
    """Mean PSNR of ``ours`` minus ``other`` on the images both ran (``other`` may have run fewer)."""
    theirs = other["sets"][set_name]["per_image"]
    return float(np.mean(ours["sets"][set_name]["per_image"][: len(theirs)]) - np.mean(theirs))


def training_throughput(model_path: str, sigma: float, steps: int = 10) -> dict:
    import keras

    folder = os.path.join(training.default_data_root(), "CBSD432")
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
from keras_semdenoise import inference
model = inference.load_denoiser(sys.argv[1])
image = np.random.default_rng(0).uniform(size=(4000, 6000, 3)).astype(np.float32)
start = time.perf_counter()
out = inference.denoise(model, image)
seconds = time.perf_counter() - start
hwm_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(out.shape, seconds, hwm_kb)
"""


def tiled_memory(model_path: str) -> dict:
    result = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, model_path], capture_output=True, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, timeout=3600)
    if result.returncode != 0:
        return {"error": result.stderr[-500:]}
    shape, seconds, max_rss_kb = result.stdout.strip().splitlines()[-1].rsplit(" ", 2)
    return {"megapixels": 24.0, "seconds": float(seconds), "peak_rss_gib": int(max_rss_kb) / 2**20}


def main(argv):
    del argv
    import keras
    import tensorflow as tf

    sigma = noise.check_sigma(FLAGS.sigma)
    model_path = FLAGS.model or inference.shipped_model_for_sigma(sigma)[0]
    model = inference.load_denoiser(model_path)
    root = training.default_data_root()
    datasets = {s: images.evaluation_images(os.path.join(root, s), FLAGS.limit or None) for s in FLAGS.sets}
    report = {"machine": evaluation.machine_description(), "python": platform.python_version(),
              "tensorflow": tf.__version__, "keras": keras.__version__, "sigma": sigma, "model": model_path,
              "protocol": evaluation.PROTOCOL, "methods": {}}
    peak, peak_text = cpu_peak_gflops()
    report["cpu"] = peak_text

    graph = tf.function(lambda x: model(x, training=False), jit_compile=False, reduce_retracing=True)
    xla = tf.function(lambda x: model(x, training=False), jit_compile=True)
    dncnn = build_dncnn()
    dncnn_graph = tf.function(lambda x: dncnn(x, training=False), reduce_retracing=True)
    methods = {
        "Keras (graph)": lambda x: graph(x[None])[0].numpy(),
        "Keras + XLA": lambda x: xla(x[None])[0].numpy(),
    }
    with tempfile.TemporaryDirectory() as folder:
        served = tf.saved_model.load(export.export_savedmodel(model, folder, "bench"))
        methods["SavedModel (denoise_float)"] = lambda x: served.signatures["denoise_float"](
            images=tf.constant(x[None]))["denoised"][0].numpy()
        calibration = export.calibration_images(os.path.join(root, "CBSD432"), sigma)
        for precision in export.TFLITE_PRECISIONS:
            path = export.export_tflite(model, os.path.join(folder, f"{precision}.tflite"), precision,
                                        calibration if precision == "int8" else None)
            for threads in (1, 2):
                methods[f"TFLite {precision}, {threads} thread{'s' if threads > 1 else ''}"] = export.TFLiteDenoiser(
                    path, threads)
        for name, method in methods.items():
            report["methods"][name] = time_method(name, method, datasets, sigma)
    report["methods"]["CBM3D"] = time_method("CBM3D", lambda x: baselines.cbm3d_denoise(x, sigma), datasets, sigma,
                                             FLAGS.cbm3d_limit or FLAGS.limit or None)
    report["methods"]["DnCNN architecture (untrained, time only)"] = time_method(
        "DnCNN", lambda x: dncnn_graph(x[None])[0].numpy(), datasets, sigma)
    report["methods"]["DnCNN architecture (untrained, time only)"]["sets"] = {}

    flops = conv_flops_per_pixel(model)
    seconds_per_mp = report["methods"]["Keras (graph)"]["seconds_per_megapixel"]
    report["flops_per_pixel"] = flops
    report["dncnn_flops_per_pixel"] = conv_flops_per_pixel(dncnn)
    report["achieved_gflops"] = flops * 1e6 / seconds_per_mp / 1e9
    report["peak_gflops"] = peak
    report["fraction_of_peak"] = report["achieved_gflops"] / peak
    report["training"] = training_throughput(model_path, sigma)
    if FLAGS.memory:
        report["tiled_24mp"] = tiled_memory(model_path)
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)), exist_ok=True)
    with open(FLAGS.out, "w") as handle:
        json.dump(report, handle, indent=1)
    with open(FLAGS.markdown, "w") as handle:
        handle.write(markdown(report) + "\n")
    print(markdown(report))


def markdown(report: dict) -> str:
    methods = report["methods"]
    sets = sorted({s for m in methods.values() for s in m["sets"]})
    base = methods["CBM3D"]
    lines = ["# Benchmarks", "", f"One `make bench` run. Machine: {report['machine']}; CPU: {report['cpu']}.",
             f"TensorFlow {report['tensorflow']}, Keras {report['keras']}. Model `{report['model']}`, sigma "
             f"{report['sigma']:g}. {report['protocol']}.", "",
             "| method | " + " | ".join(f"PSNR {s} (dB)" for s in sets) + " | s / megapixel | vs CBM3D |",
             "| --- |" + " --- |" * (len(sets) + 2)]
    for name, result in methods.items():
        cells = [f"{result['sets'][s]['psnr']:.2f} ({result['sets'][s]['images']})" if s in result["sets"] else ""
                 for s in sets]
        speed = base["seconds_per_megapixel"] / result["seconds_per_megapixel"]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {result['seconds_per_megapixel']:.3f} | "
                     f"{speed:.1f}x faster |")
    ours = methods["Keras (graph)"]
    gains = [f"{mean_gain(ours, base, s):+.2f} dB on {s} ({base['sets'][s]['images']} images)" for s in sets
             if s in base["sets"] and s in ours["sets"]]
    lines += ["", "Image counts in brackets. CBM3D runs on the first images of each set only (it is slow); the "
              "gains below compare it with ours on those same images (all images: `docs/evaluation/results.md`).",
              "",
              f"- Ours (Keras graph) is {base['seconds_per_megapixel'] / ours['seconds_per_megapixel']:.0f}x faster "
              f"than CBM3D at {', '.join(gains)}.",
              f"- Model cost: {report['flops_per_pixel'] / 1e6:.3f} MFLOP per pixel (DnCNN architecture: "
              f"{report['dncnn_flops_per_pixel'] / 1e6:.3f}); achieved {report['achieved_gflops']:.1f} GFLOP/s, "
              f"{100 * report['fraction_of_peak']:.0f}% of the nominal fp32 peak ({report['peak_gflops']:.0f} GFLOP/s).",
              f"- Training (batch 32 of 48x48): input pipeline alone "
              f"{report['training']['pipeline_patches_per_second']:.0f} patches/s, training step "
              f"{report['training']['train_step_patches_per_second']:.0f} patches/s."]
    for name, result in methods.items():
        if name.startswith("TFLite") and name.endswith(" 1 thread"):
            losses = [f"{s} {mean_gain(result, ours, s):+.3f} dB" for s in sets if s in result["sets"]]
            lines.append(f"- {name.split(',')[0]} vs Keras fp32, same images: {', '.join(losses)}.")
    memory = report.get("tiled_24mp")
    if memory and "error" not in memory:
        lines.append(f"- Tiled inference of a 24-megapixel image: {memory['seconds']:.0f} s, peak memory "
                     f"{memory['peak_rss_gib']:.2f} GiB (process RSS).")
    return "\n".join(lines)


if __name__ == "__main__":
    app.run(main)
