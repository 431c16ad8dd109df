"""Where the data sets are: ``$SEMDENOISE_DATA_DIR`` or ``../shared/data`` beside the repo (no heavy imports)."""

from __future__ import annotations

import os

DEFAULT_DATA_DIR_ENV = "SEMDENOISE_DATA_DIR"
# The paper's training images (432 colour images of BSD500): what training and int8 calibration read by default.
TRAINING_SET = "CBSD432"


def default_data_root() -> str:
    """``$SEMDENOISE_DATA_DIR`` or ``../shared/data`` beside the repo."""
    env = os.environ.get(DEFAULT_DATA_DIR_ENV)
    if env:
        return env
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return os.path.join(os.path.dirname(repo), "shared", "data")


def default_training_folder() -> str:
    """``<data root>/CBSD432``: the training images when none are named."""
    return os.path.join(default_data_root(), TRAINING_SET)


def set_folder(entry: str, data_root: str | None = None) -> str:
    """The folder of a data set given as a path (a folder that exists) or as a name under ``data_root`` (default
    ``default_data_root()``).

    Raises:
        ValueError: neither is a folder (the message says where it looked).
    """
    if os.path.isdir(entry):
        return entry
    root = data_root or default_data_root()
    folder = os.path.join(root, entry)
    if not os.path.isdir(folder):
        raise ValueError(f"no data set {entry!r}: not a folder, nor one under {root} (set {DEFAULT_DATA_DIR_ENV})")
    return folder
