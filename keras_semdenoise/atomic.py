"""Writing files so that an interrupted run never leaves a half-written one: each writer puts the
content in a temporary file beside the target and renames it into place (``os.replace`` is atomic on
one file system). Parent folders are created as needed."""

from __future__ import annotations

import json
import os
import shutil

KERAS_SUFFIXES = (".weights.h5", ".keras")


def temporary_path(path: str) -> str:
    """``path`` with ``.tmp`` before its Keras suffix (Keras checks the suffix), or after the name."""
    for suffix in KERAS_SUFFIXES:
        if path.endswith(suffix):
            return path[: -len(suffix)] + ".tmp" + suffix
    return path + ".tmp"


def _prepare(path: str) -> str:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return temporary_path(path)


def write_bytes(path: str, data: bytes) -> str:
    tmp = _prepare(path)
    with open(tmp, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)
    return path


def write_text(path: str, text: str) -> str:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str, payload, indent: int = 1) -> str:
    return write_text(path, json.dumps(payload, indent=indent))


def copy_file(source: str, target: str) -> str:
    tmp = _prepare(target)
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)
    return target


def save_model(model, path: str) -> str:
    """``model.save`` to a ``.keras`` path, atomically."""
    tmp = _prepare(path)
    model.save(tmp)
    os.replace(tmp, path)
    return path


def save_weights(model, path: str) -> str:
    """``model.save_weights`` to a ``.weights.h5`` path, atomically."""
    tmp = _prepare(path)
    model.save_weights(tmp, overwrite=True)
    os.replace(tmp, path)
    return path


def save_figure(figure, path: str, **savefig_kwargs) -> str:
    """``figure.savefig`` to ``path``, atomically; the format comes from ``path``'s suffix."""
    tmp = _prepare(path)
    fmt = os.path.splitext(path)[1].lstrip(".").lower() or None
    figure.savefig(tmp, format=fmt, **savefig_kwargs)
    os.replace(tmp, path)
    return path
