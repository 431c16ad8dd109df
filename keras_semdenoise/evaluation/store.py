"""Resumable result cells: one JSON file of results, read back on start and rewritten atomically after
every cell, so an interrupted evaluation resumes where it stopped and never leaves a half-written file."""

from __future__ import annotations

import json
import os

from keras_semdenoise import atomic


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
