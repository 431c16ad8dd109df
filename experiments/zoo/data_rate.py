"""Batches per second of the numpy training data path (``patches.PatchDataset``), by number of drawing threads.

    python -m experiments.zoo.data_rate --data_dir ../shared/data/CBSD432 --batch_size 64 --patch_size 96 --workers 1,2,3

On the GPU machine it tells whether the batches can keep up with the device: a process whose data path draws
fewer batches a second than its device steps take is fed by the CPU, not the GPU. Threads draw the batches
in order as Keras's ``PyDataset`` does with ``workers`` > 1 (``draw_rates``). Needs no TensorFlow.
Prints one line per thread count; ``--rate_out`` also writes them, with the machine, as JSON.
"""

from __future__ import annotations

import os
import platform

import numpy as np
from absl import app, flags

from keras_semdenoise import atomic
from keras_semdenoise.data import patches


def draw_rates(dataset, workers: list[int], batches: int, repeats: int) -> dict[str, dict]:
    """Batches a second that ``dataset`` gives when each count of ``workers`` threads draws ``batches`` batches
    in order (as Keras's ``PyDataset`` does with ``workers`` > 1; with one, the batches are drawn one after
    another): ``{"<count>": {"median", "min", "max"}}`` over ``repeats`` passes."""
    import concurrent.futures
    import time

    if batches < 1 or repeats < 1 or any(count < 1 for count in workers):
        raise ValueError("batches, repeats and every thread count must be >= 1")
    dataset[0]  # untimed: the first draw

    def one_pass(count: int) -> float:
        start = time.perf_counter()
        if count == 1:
            for index in range(batches):
                dataset[index]
        else:
            with concurrent.futures.ThreadPoolExecutor(count) as pool:
                for _ in pool.map(dataset.__getitem__, range(batches)):
                    pass
        return batches / (time.perf_counter() - start)

    rates = {}
    for count in workers:
        passes = [one_pass(count) for _ in range(repeats)]
        rates[str(count)] = {"median": float(np.median(passes)), "min": min(passes), "max": max(passes)}
    return rates


FLAGS = flags.FLAGS
flags.DEFINE_string(
    "data_dir", None, "Training images: folder(s) or packed:<file.npz>, as train_denoiser's.", required=True
)
flags.DEFINE_integer("batch_size", 64, "Patches per batch.")
flags.DEFINE_integer("patch_size", 96, "Patch side in pixels.")
flags.DEFINE_list("workers", ["1", "2", "3"], "Thread counts to measure.")
flags.DEFINE_integer("batches", 40, "Batches drawn per pass (after one untimed batch).")
flags.DEFINE_integer("passes", 3, "Timed passes per thread count; the median is reported.")
flags.DEFINE_string("rate_out", None, "JSON output (default: none).")


def main(argv):
    del argv
    try:
        dataset = patches.PatchDataset(
            patches.parse_sources(FLAGS.data_dir),
            patch_size=FLAGS.patch_size,
            batch_size=FLAGS.batch_size,
            sigma_range_255=(0.0, 75.0),
            steps_per_epoch=FLAGS.batches,
            seed=0,
            sigma_weighting="inverse",
        )
        rates = draw_rates(dataset, [int(w) for w in FLAGS.workers], FLAGS.batches, FLAGS.passes)
    except ValueError as error:
        raise app.UsageError(str(error)) from None
    for count, rate in rates.items():
        print(
            f"workers={count}: {rate['median']:.1f} batches/s (min {rate['min']:.1f}, max {rate['max']:.1f}) "
            f"of {FLAGS.batch_size} x {FLAGS.patch_size}x{FLAGS.patch_size}"
        )
    if FLAGS.rate_out:
        atomic.write_json(
            FLAGS.rate_out,
            {
                "data_dir": FLAGS.data_dir,
                "batch_size": FLAGS.batch_size,
                "patch_size": FLAGS.patch_size,
                "batches": FLAGS.batches,
                "passes": FLAGS.passes,
                "cpus": os.cpu_count(),
                "processor": platform.processor() or platform.machine(),
                "load_average": os.getloadavg(),
                "batches_per_second": rates,
            },
        )


if __name__ == "__main__":
    app.run(main)
