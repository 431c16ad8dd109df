"""The ``semdenoise`` command (also ``python -m keras_semdenoise``).

    semdenoise denoise IMAGES... --out DIR [--sigma auto|LEVEL] [--model PATH]
                       [--tile-size 512] [--overlap 96] [--suffix _denoised] [--precision auto] [--quiet]
    semdenoise serve [--host 127.0.0.1] [--port 8000] [--max-megapixels 16] [--max-upload-mb 64]
                     [--precision auto] [--quiet]
    semdenoise export savedmodel [--model PATH | --sigma 25] [--base exported] [--name semdenoise] [--version N]
                                 [--precision auto]
    semdenoise export tflite [--model PATH | --sigma 25] [--precision fp32,fp16,int8] [--out-dir exported/tflite]
                             [--calibration-dir DIR] [--calibration-patches 8]
    semdenoise evaluate --sets DIR[,DIR...] --out DIR [--sigmas 15,25,50] [--methods noisy,cbm3d,proposed]
                        [--model NAME=PATH ...] [--limit N] [--data-root DIR] [--no-ssim]
    semdenoise train denoiser|joint|head [--flag=value ...]     # the flags of python -m train.train_<kind>

``serve`` is a local web page for one image at a time (``apps.webapp``); ``export``, ``evaluate`` and
``train`` are ``apps.tool_commands``; the rest of this text is about ``denoise`` (``apps.denoise_command``).

IMAGES are files and/or folders (the image files directly inside a folder).
Anything Pillow reads goes in (PNG, JPEG, TIFF, ...); the denoiser sees RGB float32
in [0, 1]. Each result is a PNG ``<stem><suffix>.png`` in ``--out`` in the input's
form: grayscale stays grayscale (16-bit where the input was), an alpha channel is
kept as it was, and the ICC profile and EXIF are copied (a ``note:`` line says so).
The inputs are taken to be noisy already: ``--sigma`` (0..255 scale) only picks
the shipped model; ``auto`` (the default) estimates it per image
(``noise.estimate_sigma``) and picks the model with
``shipped.resolve_model``, saying which in a ``note:`` line.

User errors are one line ``error: ...`` on stderr, never a traceback; a file
that fails is reported and the others are still processed. An input is never
overwritten. Exit codes: 0 every file done, 1 some files failed, 2 bad
arguments, no images or no usable model.

TensorFlow is imported only once there is work to do, so ``--help`` is fast.
"""

from __future__ import annotations

import argparse
import os
import sys

from keras_semdenoise import quiet
from keras_semdenoise.apps import denoise_command, tool_commands, webapp
from keras_semdenoise.apps.console import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, error, note
from keras_semdenoise.deploy import inference

__all__ = ["EXIT_USAGE", "main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="semdenoise",
        description="Denoise images with the multi-scale denoiser of Liu et al. (TIP 2020).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    denoise_command.add_parser(commands)
    serve = commands.add_parser(
        "serve",
        help="a local web page: drop an image, compare before/after, download the result",
        description="Serve a web page that denoises one image at a time, on this computer only by default. "
        "The noise level is estimated as with `denoise --sigma auto`, or set on a slider.",
    )
    serve.add_argument(
        "--host",
        default=webapp.DEFAULT_HOST,
        help=f"address to listen on (default {webapp.DEFAULT_HOST}: this computer only; 0.0.0.0 "
        "lets anyone who can reach it upload images)",
    )
    serve.add_argument(
        "--port",
        type=int,
        default=webapp.DEFAULT_PORT,
        help=f"port to listen on (default {webapp.DEFAULT_PORT}; 0 picks a free one)",
    )
    serve.add_argument(
        "--max-megapixels",
        type=float,
        default=webapp.DEFAULT_MAX_MEGAPIXELS,
        metavar="MPX",
        help=f"largest image accepted, in megapixels (default {webapp.DEFAULT_MAX_MEGAPIXELS:g}); "
        "time grows with the size, memory stays bounded (tiled)",
    )
    upload_help = f"largest file accepted (default {webapp.DEFAULT_MAX_UPLOAD_MB:g}); uploads are held in memory"
    serve.add_argument(
        "--max-upload-mb", type=float, default=webapp.DEFAULT_MAX_UPLOAD_MB, metavar="MB", help=upload_help
    )
    serve.add_argument(
        "--precision", choices=inference.PRECISIONS, default="auto", help="as for denoise (default auto)"
    )
    serve.add_argument("--quiet", action="store_true", help="errors only: no line per denoised image")
    serve.add_argument(
        "--verbose", action="store_true", help="also show TensorFlow's own start-up and log lines (hidden by default)"
    )
    serve.set_defaults(run=run_serve)
    tool_commands.add_parsers(commands)
    return parser


def run_serve(args) -> int:
    """``semdenoise serve``: serves until Ctrl+C (exit 0); 2 if it cannot start (port in use, no model, ...)."""
    if args.verbose:
        os.environ[quiet.VERBOSE_ENV] = "1"
    try:
        webapp.serve(
            args.host,
            args.port,
            args.precision,
            args.max_megapixels,
            args.max_upload_mb,
            say=lambda message: note(message, args.quiet),
        )
    except webapp.ServeError as failure:
        error(str(failure))
        return EXIT_USAGE
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``semdenoise``: parses ``argv`` (default ``sys.argv[1:]``), returns the exit code."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as stop:  # --help (0) or a usage error argparse has already printed (2)
        return stop.code if isinstance(stop.code, int) else EXIT_OK if stop.code is None else EXIT_USAGE
    try:
        return args.run(args)
    except KeyboardInterrupt:
        error("interrupted")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
