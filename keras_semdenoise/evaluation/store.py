"""Resumable result cells: one JSON file of results, read back on start and rewritten atomically after
every cell, so an interrupted evaluation resumes where it stopped and never leaves a half-written file.

Beside it, per-image records of a cell (``evaluation.intervals``: what a bootstrap over images needs) in
``<folder>/records/<setting>_<sigma or clean>.npz``, one file per cell, also written atomically, so the
JSON stays small and is read as before.
"""

from __future__ import annotations

import json
import os

import numpy as np

from keras_semdenoise import atomic

RECORDS_FOLDER = "records"


def load(path: str | None) -> dict:
    """The results saved at ``path``, or ``{}`` when there are none (or no path)."""
    if path and os.path.exists(path):
        with open(path) as handle:
            return json.load(handle)
    return {}


def save(path: str | None, results: dict) -> None:
    """Writes ``results`` to ``path`` atomically; does nothing without a path."""
    if path:
        atomic.write_json(path, results)


def records_path(folder: str, setting: str, key: str) -> str:
    """Where the records of cell ``setting`` at ``key`` (``"15"`` or ``"clean"``) of ``folder``'s results live."""
    return os.path.join(folder, RECORDS_FOLDER, f"{setting}_{key}.npz")


def save_records(path: str, records: dict) -> None:
    """Writes ``{name: numpy array}`` to ``path`` (.npz, compressed) atomically."""

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:  # a file object: numpy would add ".npz" to the temporary name
            np.savez_compressed(handle, **records)

    atomic.write_with(path, write)


def load_records(path: str) -> dict | None:
    """The arrays ``save_records`` wrote to ``path``, or None when there is no such file."""
    if not os.path.exists(path):
        return None
    with np.load(path) as arrays:
        return {name: arrays[name] for name in arrays.files}


def records_reader(folder: str):
    """``records_of(setting, key)``: the records of ``folder``'s cells (None where missing), each read once."""
    cache = {}

    def records_of(setting: str, key: str) -> dict | None:
        if (setting, key) not in cache:
            cache[setting, key] = load_records(records_path(folder, setting, key))
        return cache[setting, key]

    return records_of
