"""A tensorflow-datasets builder for a folder of clean images (denoising training/test sets).

Prepare once, then read with tfds (no network is used)::

    import tensorflow_datasets as tfds
    from keras_semdenoise.data.images import noisy_pairs
    from keras_semdenoise.data.tfds_folder import DenoisingImageFolder

    builder = DenoisingImageFolder(data_dir="~/tensorflow_datasets")
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir="../shared/data/CBSD432"))
    train = noisy_pairs(builder.as_dataset(split="train"), sigma_255=25)

After that (and after importing this module), ``tfds.load("denoising_image_folder",
data_dir=..., download=False)`` reads the same data, and the denoiser trains from it with
``--data_dir tfds:~/tensorflow_datasets`` (``data.patches``; ``read_split`` below).

``manual_dir`` holds the images directly (one ``train`` split) or in ``train/`` and
``test/`` subfolders (one split each). Images are decoded by ``imageio.load_image``
(16-bit, grayscale, RGBA and TIFF converted the package's way) and stored as 8-bit RGB
(``metrics.to_uint8``: clipped and rounded), PNG-encoded, so 8-bit sources are kept exactly.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import tensorflow_datasets as tfds

from keras_semdenoise import imageio
from keras_semdenoise.metrics import to_uint8

logger = logging.getLogger(__name__)

BUILDER_NAME = "denoising_image_folder"
SPLIT_FOLDERS = ("train", "test")
_LAYOUT = "PNG/JPEG/TIFF files directly in manual_dir, or in its train/ and test/ subfolders"


def split_folders(manual_dir: str) -> dict[str, str]:
    """``{split: folder}`` for ``manual_dir``: its ``train/``/``test/`` subfolders if any, else
    ``{"train": manual_dir}``.

    Raises:
        FileNotFoundError: ``manual_dir`` is not a folder.
        ValueError: a split folder holds no image file.
    """
    if not os.path.isdir(manual_dir):
        raise FileNotFoundError(f"manual_dir {manual_dir} is not a folder: put {_LAYOUT}")
    subfolders = {
        split: os.path.join(manual_dir, split)
        for split in SPLIT_FOLDERS
        if os.path.isdir(os.path.join(manual_dir, split))
    }
    if subfolders and imageio.list_image_files(manual_dir):
        logger.warning("%s has %s subfolders: the images directly in it are ignored", manual_dir, "/".join(subfolders))
    folders = subfolders or {"train": manual_dir}
    for folder in folders.values():
        if not imageio.list_image_files(folder):
            raise ValueError(f"no images in {folder}: put {_LAYOUT}")
    return folders


class _DenoisingImageFolderBase(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Clean RGB images from ``manual_dir``.

    Features: ``image`` uint8 (H, W, 3) in [0, 255]; ``name`` the file stem (bytes when
    read with ``tfds.as_numpy``). Unreadable files are skipped with a warning.
    """

    name = BUILDER_NAME
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Put the clean images (PNG/JPEG/TIFF) in manual_dir, either directly (one 'train' split) "
        "or in train/ and test/ subfolders (two splits), e.g. "
        "tfds.download.DownloadConfig(manual_dir='../shared/data/CBSD432')."
    )

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description="A folder of clean images for denoising; noise is added on the fly (data.images.noisy_pairs).",
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(None, None, 3), dtype=np.uint8, encoding_format="png"),
                    "name": tfds.features.Text(),
                }
            ),
        )

    def _split_generators(self, dl_manager):
        try:
            manual_dir = dl_manager.manual_dir
        except (AssertionError, OSError) as error:
            # tfds says "Manual directory X does not exist or is empty. Create it and download...".
            reason = str(error).split(" Create it")[0].rstrip(".")
            raise FileNotFoundError(
                f"{reason}: put {_LAYOUT}, and pass tfds.download.DownloadConfig(manual_dir=...)"
            ) from None
        return {split: self._generate_examples(folder) for split, folder in split_folders(str(manual_dir)).items()}

    def _generate_examples(self, folder):
        yielded = 0
        for path in imageio.list_image_files(folder):
            try:
                pixels = imageio.load_image(path).pixels
            except imageio.ImageReadError as error:
                logger.warning("skipping %s", error)
                continue
            file_name = os.path.basename(path)  # the key: unique even for a.png next to a.jpg
            yielded += 1
            yield file_name, {"image": to_uint8(pixels), "name": os.path.splitext(file_name)[0]}
        if not yielded:
            raise ValueError(f"no readable images in {folder}: put {_LAYOUT}")


# tfds registers a builder when its class is created and raises on a second class of the same
# name, which happens when this file runs twice in one process (importlib.reload, or imported
# under another module name). The second class is then left unregistered: tfds.load keeps the
# first one, which is the same code.
try:

    class DenoisingImageFolder(_DenoisingImageFolderBase):
        __doc__ = _DenoisingImageFolderBase.__doc__
        name = BUILDER_NAME

except ValueError as error:
    if "already registered" not in str(error):
        raise

    class DenoisingImageFolder(_DenoisingImageFolderBase, skip_registration=True):
        __doc__ = _DenoisingImageFolderBase.__doc__
        name = BUILDER_NAME


def read_split(data_dir: str, split: str = "train") -> list[tuple[str, np.ndarray]]:
    """``[(file name, uint8 (H, W, 3))]`` of a prepared split under ``data_dir`` (nothing is prepared or downloaded).

    Raises:
        FileNotFoundError: no prepared ``denoising_image_folder`` under ``data_dir``.
    """
    data_dir = os.path.expanduser(data_dir)
    builder = DenoisingImageFolder(data_dir=data_dir)
    if not os.path.isdir(builder.data_dir) or not builder.info.splits:
        raise FileNotFoundError(
            f"no prepared {BUILDER_NAME} dataset in {data_dir}: prepare it first (this module's docstring)"
        )
    if split not in builder.info.splits:
        raise ValueError(f"{data_dir} has splits {sorted(builder.info.splits)}, not {split!r}")
    return [
        (example["name"].decode() + ".png", example["image"])
        for example in tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False))
    ]
