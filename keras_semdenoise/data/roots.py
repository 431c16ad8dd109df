"""Where the data sets are: ``$SEMDENOISE_DATA_DIR`` or ``../shared/data`` beside the repo (no heavy imports)."""

from __future__ import annotations

import os

DEFAULT_DATA_DIR_ENV = "SEMDENOISE_DATA_DIR"


def default_data_root() -> str:
    """``$SEMDENOISE_DATA_DIR`` or ``../shared/data`` beside the repo."""
    env = os.environ.get(DEFAULT_DATA_DIR_ENV)
    if env:
        return env
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return os.path.join(os.path.dirname(repo), "shared", "data")
