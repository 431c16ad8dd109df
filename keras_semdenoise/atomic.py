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


def write_with(path: str, write) -> str:
    """Calls ``write(temporary path)`` and renames its file to ``path``. The temporary path ends in
    ``.tmp`` (before a Keras suffix), so a writer that reads the format from the name must be told it."""
    tmp = _prepare(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        # A failed write (a full disk, a bad format, an interrupt) leaves neither the target nor its temporary.
        if os.path.lexists(tmp):
            os.remove(tmp)
        raise
    return path


def _write_file(data: bytes):
    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            handle.write(data)

    return write


def write_bytes(path: str, data: bytes) -> str:
    return write_with(path, _write_file(data))


def write_text(path: str, text: str) -> str:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str, payload, indent: int = 1) -> str:
    return write_text(path, json.dumps(payload, indent=indent))


def copy_file(source: str, target: str) -> str:
    return write_with(target, lambda tmp: shutil.copyfile(source, tmp))


def save_model(model, path: str) -> str:
    """``model.save`` to a ``.keras`` path, atomically."""
    return write_with(path, model.save)


def save_weights(model, path: str) -> str:
    """``model.save_weights`` to a ``.weights.h5`` path, atomically."""
    return write_with(path, lambda tmp: model.save_weights(tmp, overwrite=True))


def save_figure(figure, path: str, **savefig_kwargs) -> str:
    """``figure.savefig`` to ``path``, atomically; the format comes from ``path``'s suffix."""
    fmt = os.path.splitext(path)[1].lstrip(".").lower() or None
    return write_with(path, lambda tmp: figure.savefig(tmp, format=fmt, **savefig_kwargs))
