"""Training patches for the denoiser without TensorFlow: sources, validation hold-out, augmentation, PyDataset.

One definition of a training example, used by both data paths (``images.training_dataset`` on
tf.data, ``PatchDataset`` here on numpy for any Keras backend):

1. a source folder is drawn by its weight, then an image of it uniformly;
2. a ``patch_size`` square crop at a uniformly random position;
3. one of the 8 flips/rotations, index ``d`` uniform in 0..7: ``rot90`` by ``d % 4`` quarter turns
   (counter-clockwise), then a left-right flip if ``d >= 4`` (``dihedral``);
4. ``clean`` in [0, 1] float32 plus ``noise.add_gaussian_noise_np`` with sigma fixed, or for blind
   training drawn uniformly from ``[low, high]`` per patch (``draw_sigmas``).

Sources (``parse_sources``): ``"DIR[:WEIGHT],DIR[:WEIGHT],..."``; ``DIR`` is an image folder,
``packed:FILE.npz`` made by ``pack_image_folder`` (the images byte for byte, so a GPU machine without
TensorFlow and with a 64 MiB transfer limit gets exactly the same pixels), or ``tfds:DATA_DIR``, a
tensorflow-datasets ``data_dir`` where ``data.tfds_folder.DenoisingImageFolder`` was prepared (its
``train`` split; the images stored as 8-bit PNG, so the same pixels as the folder it was made from).

Validation (``VALIDATION_IDS``): 16 CBSD432 images held out of training for checkpoint selection and
learning curves; test sets (CBSD68, Kodak24, ...) are never used to choose anything.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os

import numpy as np
from PIL import Image

from keras_semdenoise import imageio, metrics, noise

logger = logging.getLogger(__name__)

# 16 CBSD432 ids held out for validation: the first 16 of a permutation of the sorted ids drawn with
# numpy's default_rng(20261201), listed here so the split never depends on code.
VALIDATION_IDS = (
    "23084",
    "55067",
    "66039",
    "70011",
    "71046",
    "113044",
    "118031",
    "160067",
    "164046",
    "189029",
    "196040",
    "249087",
    "253092",
    "268002",
    "372047",
    "376020",
)
NUM_DIHEDRAL = 8
PACKED_PREFIX = "packed:"
TFDS_PREFIX = "tfds:"


@dataclasses.dataclass(frozen=True)
class Source:
    """One training source: an image folder, ``packed:FILE.npz`` or ``tfds:DATA_DIR``, and its sampling weight."""

    path: str
    weight: float = 1.0

    @property
    def packed(self) -> bool:
        return self.path.startswith(PACKED_PREFIX)

    @property
    def tfds(self) -> bool:
        return self.path.startswith(TFDS_PREFIX)

    @property
    def location(self) -> str:
        """The file or folder behind the source, without its ``packed:`` / ``tfds:`` prefix."""
        for prefix in (PACKED_PREFIX, TFDS_PREFIX):
            if self.path.startswith(prefix):
                return self.path[len(prefix) :]
        return self.path


def parse_sources(spec: str) -> list[Source]:
    """``"DIR[:W],DIR[:W]"`` -> ``[Source]``. A trailing ``:number`` is the weight (default 1).

    Raises:
        ValueError: an empty spec, or a weight that is negative or all weights zero.
    """
    sources = []
    for item in (part.strip() for part in str(spec).split(",")):
        if not item:
            continue
        path, weight = item, 1.0
        head, sep, tail = item.rpartition(":")
        if sep and head:
            try:
                weight = float(tail)
                path = head
            except ValueError:
                pass
        if weight < 0 or not np.isfinite(weight):
            raise ValueError(f"sampling weight must be >= 0, got {tail!r} in {item!r}")
        sources.append(Source(path, weight))
    if not sources:
        raise ValueError("no training source given (expected DIR[:WEIGHT],...)")
    if sum(s.weight for s in sources) <= 0:
        raise ValueError(f"the sampling weights of {spec!r} are all zero")
    return sources


def check_sources(sources: list[Source]) -> None:
    """Raises FileNotFoundError for a source folder, packed file or tfds data_dir that does not exist."""
    for source in sources:
        path = source.location
        exists = os.path.isfile(path) if source.packed else os.path.isdir(path)
        if not exists:
            raise FileNotFoundError(f"training data folder not found: {path}")


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def is_validation(name: str) -> bool:
    """True for a file name or path whose stem is a held-out validation id."""
    return _stem(name) in VALIDATION_IDS


def pack_image_folder(folder: str, out_path: str) -> dict:
    """Packs the image files of ``folder`` (sorted, byte for byte) into ``out_path`` (.npz)."""
    from keras_semdenoise import atomic

    paths = imageio.list_image_files(folder)
    if not paths:
        raise ValueError(f"no images in {folder}")
    blobs = []
    for path in paths:
        with open(path, "rb") as handle:
            blobs.append(handle.read())
    offsets = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
    buffer = io.BytesIO()
    np.savez(
        buffer,
        names=np.asarray([os.path.basename(p) for p in paths]),
        offsets=offsets,
        data=np.frombuffer(b"".join(blobs), np.uint8),
    )
    atomic.write_bytes(out_path, buffer.getvalue())
    return {"images": len(paths), "bytes": os.path.getsize(out_path)}


def usable_training_files(folder: str, patch_size: int) -> list[str]:
    """Image files in ``folder`` at least ``patch_size`` on each side (smaller ones are skipped with a warning).

    Raises:
        FileNotFoundError: the folder does not exist.
        ValueError: it holds no usable image.
    """
    files = imageio.list_image_files(folder)
    usable = []
    for path in files:
        try:
            with Image.open(path) as image:
                width, height = image.size
        except Exception as error:  # noqa: BLE001 - any unreadable file is skipped the same way
            logger.warning("skipping %s: %s", path, error)
            continue
        if min(width, height) < patch_size:
            logger.warning("skipping %s: %dx%d is smaller than the %d px patch", path, width, height, patch_size)
            continue
        usable.append(path)
    if not usable:
        raise ValueError(
            f"no usable training image in {folder}: need PNG/JPEG/TIFF files at least {patch_size}x{patch_size}"
        )
    return usable


def _decode(blob: bytes) -> np.ndarray:
    """The same decode as for a file (``imageio.load_image``: EXIF, 16-bit, grey), from bytes."""
    return metrics.to_uint8(imageio.load_image(io.BytesIO(blob)).pixels)


def read_source(source: Source, patch_size: int = 1, keep=None) -> list[tuple[str, np.ndarray]]:
    """``[(name, uint8 (H, W, 3))]`` of a source, images smaller than ``patch_size`` left out.

    ``keep(name) -> bool`` (optional) chooses files by name before anything is decoded.
    """
    keep = keep or (lambda name: True)
    if source.tfds:
        from keras_semdenoise.data import tfds_folder

        items = [(n, im) for n, im in tfds_folder.read_split(source.location) if keep(n)]
    elif source.packed:
        with np.load(source.location) as arrays:
            names, offsets, data = [str(n) for n in arrays["names"]], arrays["offsets"], arrays["data"]
            items = [(n, _decode(data[offsets[i] : offsets[i + 1]].tobytes())) for i, n in enumerate(names) if keep(n)]
    else:
        files = [p for p in usable_training_files(source.path, patch_size) if keep(os.path.basename(p))]
        items = [(os.path.basename(p), metrics.to_uint8(imageio.load_image(p).pixels)) for p in files]
    return [(n, im) for n, im in items if min(im.shape[:2]) >= patch_size]


def load_training_images(sources: list[Source], patch_size: int, holdout: bool = True):
    """Per source, the uint8 images used for training (validation ids left out when ``holdout``).

    Raises:
        ValueError: a source left with no usable image.
    """
    loaded = []
    for source in sources:
        keep = (lambda name: not is_validation(name)) if holdout else None
        items = [im for _, im in read_source(source, patch_size, keep)]
        if not items:
            raise ValueError(f"no usable training image in {source.path} (need images >= {patch_size} px)")
        loaded.append(items)
    return loaded


def validation_images(sources: list[Source], limit: int | None = None) -> list[tuple[str, np.ndarray]]:
    """``[(id, clean float32 (H, W, 3) in [0, 1])]``: the held-out validation images found in ``sources``."""
    found = {}
    for source in sources:
        for name, image in read_source(source, keep=is_validation):
            if _stem(name) not in found:
                found[_stem(name)] = image.astype(np.float32) / 255.0
    ordered = [(i, found[i]) for i in VALIDATION_IDS if i in found]
    return ordered[:limit] if limit else ordered


def dihedral(patch: np.ndarray, index: int) -> np.ndarray:
    """The ``index``-th (0..7) flip/rotation of an (H, W, C) patch: rot90 by ``index % 4``, then flip if >= 4."""
    out = np.rot90(patch, index % 4, axes=(0, 1))
    return out[:, ::-1] if index >= 4 else out


def draw_sigmas(
    rng: np.random.Generator, count: int, sigma_255: float | None, sigma_range_255: tuple[float, float] | None
) -> np.ndarray:
    """Per-patch noise levels (0..255 scale): ``sigma_255`` repeated, or uniform in ``sigma_range_255``."""
    if sigma_255 is not None:
        return np.full(count, sigma_255, np.float32)
    low, high = sigma_range_255
    return rng.uniform(low, high, count).astype(np.float32)


def sample_batch(
    rng: np.random.Generator,
    images: list[list[np.ndarray]],
    weights: np.ndarray,
    patch_size: int,
    batch_size: int,
    sigma_255: float | None,
    sigma_range_255: tuple[float, float] | None,
    sigma_weighting: str = "none",
):
    """One ``(noisy, clean)`` batch, each ``(batch_size, patch, patch, 3)`` float32 (clean in [0, 1]);
    ``sigma_weighting="inverse"``: ``(noisy, clean, loss weights (batch_size, 1, 1))`` as the tf.data path."""
    clean = np.empty((batch_size, patch_size, patch_size, 3), np.float32)
    chosen = rng.choice(len(images), size=batch_size, p=weights)
    for slot, source_index in enumerate(chosen):
        pool = images[source_index]
        image = pool[rng.integers(len(pool))]
        top = rng.integers(image.shape[0] - patch_size + 1)
        left = rng.integers(image.shape[1] - patch_size + 1)
        patch = image[top : top + patch_size, left : left + patch_size]
        clean[slot] = dihedral(patch, int(rng.integers(NUM_DIHEDRAL))) / np.float32(255.0)
    sigmas = draw_sigmas(rng, batch_size, sigma_255, sigma_range_255)
    noisy = noise.add_gaussian_noise_np(clean, sigmas[:, None, None, None], rng)
    if sigma_weighting == "inverse":
        return noisy, clean, noise.sigma_loss_weights(sigmas, sigma_range_255)[:, None, None].astype(np.float32)
    return noisy, clean


def _pydataset_base():
    import keras

    return keras.utils.PyDataset


class PatchDataset(_pydataset_base()):
    """``keras.utils.PyDataset`` of noisy/clean training batches for any Keras backend.

    Each index gives a batch drawn with ``numpy.random.default_rng((seed, epoch, index))``, so a run is
    reproducible and a resumed run (new ``seed``) does not replay batches. Items are
    ``(noisy, clean)`` float32 arrays of shape ``(batch_size, patch_size, patch_size, 3)``.
    """

    def __init__(
        self,
        sources: list[Source],
        patch_size: int = 48,
        batch_size: int = 32,
        sigma_255: float | None = None,
        sigma_range_255: tuple[float, float] | None = None,
        steps_per_epoch: int = 200,
        seed: int = 0,
        holdout: bool = True,
        workers: int = 1,
        sigma_weighting: str = "none",
        **kwargs,
    ):
        super().__init__(workers=workers, use_multiprocessing=False, **kwargs)
        if (sigma_255 is None) == (sigma_range_255 is None):
            raise ValueError("give exactly one of sigma_255 and sigma_range_255")
        self.sigma_weighting = noise.check_sigma_weighting(sigma_weighting, sigma_range_255)
        self.images = load_training_images(sources, patch_size, holdout)
        weights = np.asarray([s.weight for s in sources], np.float64)
        self.weights = weights / weights.sum()
        self.patch_size, self.batch_size = patch_size, batch_size
        self.sigma_255, self.sigma_range_255 = sigma_255, sigma_range_255
        self.steps_per_epoch, self.seed, self.epoch = steps_per_epoch, seed, 0

    def __len__(self):
        return self.steps_per_epoch

    def __getitem__(self, index):
        rng = np.random.default_rng((self.seed, self.epoch, index))
        return sample_batch(
            rng,
            self.images,
            self.weights,
            self.patch_size,
            self.batch_size,
            self.sigma_255,
            self.sigma_range_255,
            self.sigma_weighting,
        )

    def on_epoch_end(self):
        self.epoch += 1
