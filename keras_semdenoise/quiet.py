"""Quiet start-up: import the Keras backend without TensorFlow's C++ start-up lines.

TensorFlow prints oneDNN, CUDA-driver and ``cuInit`` lines from C++ while it is imported (abseil logs
them before ``TF_CPP_MIN_LOG_LEVEL`` is read), which reads like a failure to a user. ``import_backend``
imports it (and Keras) with the process's standard error pointed at ``/dev/null`` for the duration of
the import only, and raises the C++ log threshold for later lines. ``SEMDENOISE_VERBOSE=1`` (the CLI's
``--verbose``) keeps everything. Errors are not hidden: an import that fails raises after standard
error is restored, and Python prints the traceback as usual.
"""

from __future__ import annotations

import contextlib
import os
import sys

VERBOSE_ENV = "SEMDENOISE_VERBOSE"


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


@contextlib.contextmanager
def silenced_stderr():
    """Standard error (file descriptor 2, so C++ writes too) goes to /dev/null inside the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_backend() -> None:
    """Imports Keras and its backend (TensorFlow where that is the backend), quietly unless verbose."""
    if "keras" in sys.modules or verbose():
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"  # also over a lower level set elsewhere (the Makefile's 2)
    with silenced_stderr():
        if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
            with contextlib.suppress(ImportError):
                import tensorflow  # noqa: F401
        import keras  # noqa: F401
