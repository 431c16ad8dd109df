"""Batches per second of the numpy training data path (``patches.PatchDataset``), by number of drawing threads.

    python -m tools.data_rate --data_dir ../shared/data/CBSD432 --batch_size 64 --patch_size 96 --workers 1,2,3

On the GPU machine it tells whether the batches can keep up with the device: a process whose data path draws
fewer batches a second than its device steps take is fed by the CPU, not the GPU. Threads draw the batches
in order as Keras's ``PyDataset`` does with ``workers`` > 1 (with one worker Keras draws a batch between steps,
not beside them). Needs no TensorFlow. Writes ``--out`` (JSON) and prints one line per thread count.
"""

from __future__ import annotations

import concurrent.futures
import os
import platform
import time

import numpy as np
from absl import app, flags

from keras_semdenoise import atomic
from keras_semdenoise.data import patches

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "Training images: folder(s) or packed:<file.npz>, as train_denoiser's.",
                    required=True)
flags.DEFINE_integer("batch_size", 64, "Patches per batch.")
flags.DEFINE_integer("patch_size", 96, "Patch side in pixels.")
flags.DEFINE_list("workers", ["1", "2", "3"], "Thread counts to measure.")
flags.DEFINE_integer("batches", 40, "Batches drawn per thread count (after one untimed batch).")
flags.DEFINE_integer("repeats", 3, "Timed passes per thread count; the median is reported.")
flags.DEFINE_string("sigma_range", "0,75", "Noise range drawn per patch (0..255), as the blind model trains.")
flags.DEFINE_string("out", None, "JSON output (default: none).")


def batches_per_second(dataset: patches.PatchDataset, workers: int, batches: int) -> float:
    """Batches a second when ``workers`` threads draw ``batches`` batches of ``dataset`` in order."""
    start = time.perf_counter()
    if workers == 1:
        for index in range(batches):
            dataset[index]
    else:
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            for _ in pool.map(dataset.__getitem__, range(batches)):
                pass
    return batches / (time.perf_counter() - start)


def measure(data_dir: str, batch_size: int, patch_size: int, workers: list[int], batches: int, repeats: int,
            sigma_range: tuple[float, float]) -> dict:
    """Median batches a second for each thread count, with the machine it ran on."""
    if batches < 1 or repeats < 1 or any(w < 1 for w in workers):
        raise ValueError("batches, repeats and every thread count must be >= 1")
    dataset = patches.PatchDataset(patches.parse_sources(data_dir), patch_size=patch_size, batch_size=batch_size,
                                   sigma_range_255=sigma_range, steps_per_epoch=batches, seed=0,
                                   sigma_weighting="inverse")
    dataset[0]  # the first draw pays for nothing the others do not; untimed all the same
    rates = {}
    for count in workers:
        passes = [batches_per_second(dataset, count, batches) for _ in range(repeats)]
        rates[str(count)] = {"median": float(np.median(passes)), "min": min(passes), "max": max(passes)}
    return {"data_dir": data_dir, "batch_size": batch_size, "patch_size": patch_size, "batches": batches,
            "repeats": repeats, "cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
            "load_average": os.getloadavg(), "batches_per_second": rates}


def main(argv):
    del argv
    low, high = (float(v) for v in FLAGS.sigma_range.split(","))
    result = measure(FLAGS.data_dir, FLAGS.batch_size, FLAGS.patch_size, [int(w) for w in FLAGS.workers],
                     FLAGS.batches, FLAGS.repeats, (low, high))
    for count, rate in result["batches_per_second"].items():
        print(f"workers={count}: {rate['median']:.1f} batches/s (min {rate['min']:.1f}, max {rate['max']:.1f}) "
              f"of {FLAGS.batch_size} x {FLAGS.patch_size}x{FLAGS.patch_size}")
    if FLAGS.out:
        atomic.write_json(FLAGS.out, result)


if __name__ == "__main__":
    app.run(main)
