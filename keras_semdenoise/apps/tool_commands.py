"""``semdenoise export``, ``semdenoise evaluate`` and ``semdenoise train``: thin over ``deploy.export_files``,
``evaluation.tables`` and ``apps.training_runs``, so an installed wheel exports, evaluates and trains without a
checkout. Arguments are checked before TensorFlow starts; every user error is one line (exit code 2)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from keras_semdenoise import noise, quiet
from keras_semdenoise.apps.console import EXIT_OK, EXIT_USAGE, UsageError, error, say

PRECISIONS = ("auto", "bf16", "fp32")  # deploy.inference.PRECISIONS, named here so --help starts no TensorFlow
TFLITE_PRECISIONS = ("fp32", "fp16", "int8")  # deploy.export.TFLITE_PRECISIONS
TRAINING_KINDS = ("denoiser", "joint", "head")  # apps.training_runs.KINDS


def _model_arguments(parser) -> None:
    parser.add_argument("--model", metavar="PATH", help="a .keras denoiser (default: the shipped model for --sigma)")
    parser.add_argument(
        "--sigma", type=float, default=noise.DEFAULT_SIGMA_255, help="noise level whose shipped model to export"
    )


def _comma_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def add_parsers(commands) -> None:
    """Adds ``export``, ``evaluate`` and ``train`` to the ``semdenoise`` subcommands."""
    export = commands.add_parser("export", help="export a denoiser for TF Serving (SavedModel) or TFLite")
    formats = export.add_subparsers(dest="format", required=True, metavar="FORMAT")
    saved = formats.add_parser("savedmodel", help="a TF Serving SavedModel: <base>/<name>/<version>/")
    _model_arguments(saved)
    saved.add_argument("--base", default="exported", help="base folder (TF Serving's --model_base_path is BASE/NAME)")
    saved.add_argument("--name", default="semdenoise", help="model name (default semdenoise)")
    saved.add_argument("--version", type=int, help="version number (default: the next free one)")
    saved.add_argument("--precision", choices=PRECISIONS, default="auto", help="served precision (default auto)")
    saved.set_defaults(run=run_export_savedmodel)
    lite = formats.add_parser("tflite", help="TFLite files, one per precision: <out-dir>/<model>_<precision>.tflite")
    _model_arguments(lite)
    lite.add_argument(
        "--precision", type=_comma_list, default=["fp32"], help="comma-separated: fp32, fp16, int8 (default fp32)"
    )
    lite.add_argument("--out-dir", default="exported/tflite", help="output folder (default exported/tflite)")
    lite.add_argument("--calibration-dir", help="training images that calibrate int8 (default: CBSD432 in the data)")
    lite.add_argument("--calibration-patches", type=int, default=256, help="noisy 64x64 patches for int8 (256)")
    lite.set_defaults(run=run_export_tflite)

    evaluate = commands.add_parser(
        "evaluate",
        help="PSNR/SSIM tables of denoisers on test sets with seeded noise",
        description="Writes OUT/results.json (resumable) and OUT/results.md: one table per set.",
    )
    evaluate.add_argument("--sets", type=_comma_list, required=True, help="comma-separated folders (or set names)")
    evaluate.add_argument("--data-root", help="where set names are looked up (default ../shared/data)")
    evaluate.add_argument("--sigmas", type=_comma_list, default=["15", "25", "50"], help="noise levels (15,25,50)")
    evaluate.add_argument(
        "--methods",
        type=_comma_list,
        default=["noisy", "proposed"],
        help="comma-separated: noisy, cbm3d, proposed (the shipped models), proposed_x8 (default noisy,proposed)",
    )
    evaluate.add_argument(
        "--model", action="append", default=[], metavar="NAME=PATH", help="another .keras denoiser ({sigma} filled)"
    )
    evaluate.add_argument("--limit", type=int, default=0, help="first N images of each set (0: all)")
    evaluate.add_argument("--out", required=True, metavar="DIR", help="output folder")
    evaluate.add_argument("--no-ssim", action="store_true", help="PSNR only")
    evaluate.set_defaults(run=run_evaluate)

    train = commands.add_parser(
        "train",
        help="train a denoiser (separately or jointly through a frozen head) or a head",
        description="The rest of the line are the flags of `python -m train.train_<kind>` (--help lists them).",
        add_help=False,
    )
    train.add_argument("kind", choices=TRAINING_KINDS, help="denoiser, joint or head")
    train.add_argument("flags", nargs=argparse.REMAINDER, help="--flag=value ... (see `semdenoise train KIND --help`)")
    train.set_defaults(run=run_train)


def _check_sigma(sigma: float) -> None:
    try:
        noise.check_sigma(sigma)
    except ValueError as problem:
        raise UsageError(f"--sigma: {problem}") from None


def run_export_savedmodel(args) -> int:
    """``semdenoise export savedmodel``: 0 written, 2 a bad argument or model."""
    try:
        _check_sigma(args.sigma)
        quiet.import_backend()
        from keras_semdenoise.deploy import export_files, inference

        path, out = export_files.savedmodel(args.model, args.sigma, args.base, args.name, args.version, args.precision)
    except (ValueError, FileNotFoundError, FileExistsError) as problem:
        error(str(problem))
        return EXIT_USAGE
    say(f"exported {path} ({inference.resolve_precision(args.precision)}) to {out}")
    return EXIT_OK


def run_export_tflite(args) -> int:
    """``semdenoise export tflite``: 0 written, 2 a bad argument, model or calibration folder."""
    try:
        _check_sigma(args.sigma)
        unknown = [p for p in args.precision if p not in TFLITE_PRECISIONS]
        if unknown or not args.precision:
            raise UsageError(f"--precision takes {', '.join(TFLITE_PRECISIONS)}, got {','.join(args.precision)!r}")
        quiet.import_backend()
        from keras_semdenoise.deploy import export_files

        written = export_files.tflite(
            args.model, args.sigma, args.out_dir, args.precision, args.calibration_dir, args.calibration_patches
        )
    except (ValueError, FileNotFoundError) as problem:
        error(str(problem))
        return EXIT_USAGE
    for out in written:
        say(f"wrote {out} ({os.path.getsize(out) / 1e6:.2f} MB)")
    return EXIT_OK


def run_evaluate(args) -> int:
    """``semdenoise evaluate``: prints the tables; 0 measured, 2 a bad argument or set."""
    try:
        sigmas = [noise.check_sigma(s) for s in args.sigmas]
        if args.limit < 0:
            raise UsageError(f"--limit must be >= 0, got {args.limit}")
        quiet.import_backend()
        from keras_semdenoise.evaluation import tables

        datasets = tables.load_sets(args.sets, args.data_root, args.limit)
        methods = tables.build_methods(args.methods, args.model)
    except (ValueError, FileNotFoundError) as problem:
        error(str(problem))
        return EXIT_USAGE
    print(tables.write_tables(datasets, sigmas, methods, args.out, ssim=not args.no_ssim))
    return EXIT_OK


def run_train(args) -> int:
    """``semdenoise train KIND [flags]``: runs ``python -m keras_semdenoise.apps.training_main KIND [flags]``
    (absl parses the flags; a fresh process, as training wants) and returns its exit code."""
    command = [sys.executable, "-m", "keras_semdenoise.apps.training_main", args.kind, *args.flags]
    code = subprocess.call(command)
    if code == 1 and {"--help", "-h", "--helpfull"} & set(args.flags):
        return EXIT_OK  # absl exits 1 after printing the help it was asked for
    return code
