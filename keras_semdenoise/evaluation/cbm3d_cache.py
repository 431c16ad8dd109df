"""CBM3D outputs of a task split, computed once: each image's estimate is kept as an 8-bit PNG, so a later
evaluation (another head, another table) reads it instead of running CBM3D again (seconds per image), and
the missing ones can be computed by a pool of processes (CBM3D is CPU bound and single-threaded).

Key: ``<folder>/<task>/<split>/<crop>/sigma<sigma>/<index>-<hash>.png``, the image's index in its split
(which, with the task, names its seeded noise: ``tasks.noise_name``) and a hash of the noisy input itself,
so a changed data set, crop or noise protocol misses the cache instead of reading a wrong image.

The estimate is stored and returned rounded to 8 bits (``metrics.to_uint8``), with or without a cache, so
the CBM3D cell is the same whether its images were computed now or read back.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np

from keras_semdenoise import atomic, imageio, metrics
from keras_semdenoise.evaluation import cbm3d


def _as_float(image: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) -> float32 in [0, 1], as ``imageio.load_image`` reads an 8-bit PNG."""
    return image.astype(np.float32) / 255.0


class Cbm3dCache:
    """CBM3D on noisy images of one split, each computed once (``folder``) and in parallel (``workers``).

    Args:
        folder: the cache folder (shared by evaluations), or None to compute every image without keeping it.
        task, split: the split's task and name (``"test"``).
        crop_size: the evaluation crop (None: whole images); part of the key.
        workers: processes computing missing images (1: in this process). A pool of ``spawn`` processes is
            started the first time two or more images are missing at once, and stopped by ``close`` (or at the
            end of a ``with`` block). ``fill`` a cell's images first to keep every worker busy.
    """

    def __init__(self, folder: str | None, task: str, split: str, crop_size: int | None, workers: int = 1):
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.folder = folder
        self.task, self.split, self.crop_size, self.workers = task, split, crop_size, workers
        self._pool = None

    def path(self, index: int, sigma_255: float, noisy: np.ndarray) -> str:
        """The cache file of image ``index``'s estimate from ``noisy`` (H, W, 3) float32 at ``sigma_255``."""
        digest = hashlib.sha1(np.ascontiguousarray(noisy, dtype=np.float32).tobytes()).hexdigest()[:12]
        crop = f"crop{self.crop_size}" if self.crop_size else "whole"
        return os.path.join(
            self.folder, self.task, self.split, crop, f"sigma{sigma_255:g}", f"{int(index):06d}-{digest}.png"
        )

    def _run(self, noisy: list[np.ndarray], sigma_255: float) -> list[np.ndarray]:
        """CBM3D estimates (float32) of ``noisy``, in the pool when there is one to use."""
        jobs = [(image, sigma_255) for image in noisy]
        if self.workers > 1 and len(jobs) > 1:
            if self._pool is None:
                import multiprocessing

                self._pool = multiprocessing.get_context("spawn").Pool(self.workers)
            # by reference: a spawned worker imports only numpy, bm3d and this package's lazy __init__
            # one bm3d thread per worker process (cbm3d.cbm3d_denoise: twice as fast on small images)
            return self._pool.starmap(cbm3d.cbm3d_denoise, [(*job, 1) for job in jobs], chunksize=1)
        return [cbm3d.cbm3d_denoise(image, sigma) for image, sigma in jobs]

    def _compute(self, noisy: list[np.ndarray], paths: list[str] | None, sigma_255: float) -> list[np.ndarray]:
        """The estimates of ``noisy`` computed now, rounded to 8 bits (uint8), and kept at ``paths``."""
        rounded = [metrics.to_uint8(estimate) for estimate in self._run(noisy, sigma_255)]
        for path, image in zip(paths or (), rounded):
            self._keep(path, image)
        return rounded

    def fill(self, images, sigma_255: float) -> int:
        """Computes and keeps the estimates of ``images`` (iterable of ``(index in the split, noisy (H, W, 3)
        float32)``) not yet in the cache, ``4 * workers`` at a time, so that every worker is busy even when
        the evaluation's batches hold one image (whole CamVid frames). Returns how many it computed."""
        if not self.folder:
            raise ValueError("fill needs a cache folder")
        paths, pending, computed = [], [], 0
        for index, noisy in images:
            path = self.path(index, sigma_255, noisy)
            if not os.path.exists(path):
                paths.append(path)
                pending.append(noisy)
            if len(pending) >= 4 * self.workers:
                computed += len(self._compute(pending, paths, sigma_255))
                paths, pending = [], []
        return computed + len(self._compute(pending, paths, sigma_255))

    def denoise(self, noisy: np.ndarray, indices, sigma_255: float) -> np.ndarray:
        """CBM3D estimates (N, H, W, 3) float32 in [0, 1] (8-bit values) of a batch ``noisy`` (N, H, W, 3)
        whose images have the split indices ``indices``; cached ones are read, the rest computed and kept."""
        paths = [self.path(i, sigma_255, image) for i, image in zip(indices, noisy)] if self.folder else None
        estimates: list = [None] * len(noisy)
        if paths:
            for position, path in enumerate(paths):
                if os.path.exists(path):
                    estimates[position] = imageio.load_image(path).pixels
        missing = [position for position, estimate in enumerate(estimates) if estimate is None]
        computed = self._compute([noisy[p] for p in missing], [paths[p] for p in missing] if paths else None, sigma_255)
        for position, image in zip(missing, computed):
            estimates[position] = _as_float(image)
        return np.stack(estimates)

    def _keep(self, path: str, image: np.ndarray) -> None:
        ignore = os.path.join(self.folder, ".gitignore")
        if not os.path.exists(ignore):  # a cache is never committed, wherever it is
            atomic.write_text(ignore, "*\n")
        imageio.save_png(path, image)

    def close(self, terminate: bool = False) -> None:
        """Stops the worker processes, if any were started (``terminate``: without waiting for them)."""
        if self._pool is not None:
            if terminate:
                self._pool.terminate()
            else:
                self._pool.close()
            self._pool.join()
            self._pool = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc_info):
        self.close(terminate=exc_type is not None)
