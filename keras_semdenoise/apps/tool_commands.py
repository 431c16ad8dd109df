"""``semdenoise export``, ``semdenoise evaluate`` and ``semdenoise train``: thin over ``deploy.export_files``,
``evaluation.tables`` and ``apps.training_runs``, so an installed wheel exports, evaluates and trains without a
checkout. Arguments are checked before TensorFlow starts; every user error is one line (exit code 2)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from keras_semdenoise import noise, quiet
from keras_semdenoise.apps.console import EXIT_OK, EXIT_USAGE, UsageError, error, note, say
from keras_semdenoise.data import roots
from keras_semdenoise.models import shipped

# The library's values, named here so that parsing and checking the arguments starts no TensorFlow
# (tests/test_apps_cli.py checks that they are the library's).
PRECISIONS = ("auto", "bf16", "fp32")  # deploy.inference.PRECISIONS
TFLITE_PRECISIONS = ("fp32", "fp16", "int8")  # deploy.export.TFLITE_PRECISIONS
CALIBRATION_PATCHES = 8  # deploy.export.CALIBRATION_PATCHES
EVALUATION_METHODS = ("noisy", "cbm3d", "proposed", "proposed_x8")  # evaluation.tables.BUILT_IN_METHODS
TRAINING_KINDS = ("denoiser", "joint", "head")  # apps.training_runs.KINDS


def _model_arguments(parser) -> None:
    parser.add_argument("--model", metavar="PATH", help="a .keras denoiser (default: the shipped model for --sigma)")
    parser.add_argument(
        "--sigma",
        default=noise.DEFAULT_SIGMA_255,
        metavar="LEVEL",
        help=f"noise level (0..255) whose shipped model to export (default {noise.DEFAULT_SIGMA_255:g})",
    )


def _comma_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def add_parsers(commands) -> None:
    """Adds ``export``, ``evaluate`` and ``train`` to the ``semdenoise`` subcommands."""
    export = commands.add_parser("export", help="export a denoiser for TF Serving (SavedModel) or TFLite")
    formats = export.add_subparsers(dest="format", required=True, metavar="FORMAT")
    saved_about = "Writes BASE/NAME/VERSION/ with three signatures (uint8 images, float images, encoded bytes)."
    saved = formats.add_parser(
        "savedmodel", help="a TF Serving SavedModel: BASE/NAME/VERSION/", description=saved_about
    )
    _model_arguments(saved)
    saved.add_argument(
        "--base", default="exported", help="base folder (default exported; TF Serving's base is BASE/NAME)"
    )
    saved.add_argument("--name", default="semdenoise", help="model name (default semdenoise)")
    saved.add_argument("--version", type=int, metavar="N", help="version number (default: the next free one)")
    saved.add_argument("--precision", choices=PRECISIONS, default="auto", help="served precision (default auto)")
    saved.set_defaults(run=run_export_savedmodel)
    lite_help = "TFLite files, one per precision: OUT_DIR/<model>_<precision>.tflite"
    lite_about = "Writes one TFLite file per precision, with a dynamic H x W input."
    lite = formats.add_parser("tflite", help=lite_help, description=lite_about)
    _model_arguments(lite)
    lite.add_argument(
        "--precision",
        type=_comma_list,
        default=["fp32"],
        metavar="LIST",
        help=f"comma-separated: {', '.join(TFLITE_PRECISIONS)} (default fp32)",
    )
    lite.add_argument("--out-dir", default="exported/tflite", metavar="DIR", help="output folder (exported/tflite)")
    lite.add_argument(
        "--calibration-dir",
        metavar="DIR",
        help=f"training images that calibrate int8 (default: $SEMDENOISE_DATA_DIR/{roots.TRAINING_SET} "
        f"or ../shared/data/{roots.TRAINING_SET})",
    )
    lite.add_argument(
        "--calibration-patches",
        type=int,
        default=CALIBRATION_PATCHES,
        metavar="N",
        help=f"noisy 64x64 patches that calibrate int8 (default {CALIBRATION_PATCHES})",
    )
    lite.set_defaults(run=run_export_tflite)

    about = "Writes OUT/results.json (resumable: run the same command again) and OUT/results.md, one table per set."
    evaluate = commands.add_parser("evaluate", help="PSNR/SSIM tables of denoisers on test sets", description=about)
    evaluate.add_argument(
        "--sets", type=_comma_list, required=True, metavar="DIR[,DIR]", help="comma-separated folders (or set names)"
    )
    evaluate.add_argument(
        "--data-root", metavar="DIR", help="where set names are looked up ($SEMDENOISE_DATA_DIR or ../shared/data)"
    )
    evaluate.add_argument(
        "--sigmas", type=_comma_list, default=["15", "25", "50"], metavar="LIST", help="noise levels (15,25,50)"
    )
    evaluate.add_argument(
        "--methods",
        type=_comma_list,
        default=["noisy", "proposed"],
        metavar="LIST",
        help="comma-separated: noisy, cbm3d, proposed (the shipped models), proposed_x8 (default noisy,proposed)",
    )
    evaluate.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="another .keras denoiser, a row NAME; {sigma} in PATH is filled per level (repeatable)",
    )
    evaluate.add_argument("--limit", type=int, default=0, metavar="N", help="first N images of each set (0: all)")
    evaluate.add_argument("--out", required=True, metavar="DIR", help="output folder")
    evaluate.add_argument("--no-ssim", action="store_true", help="PSNR only")
    evaluate.set_defaults(run=run_evaluate)

    about = "The rest of the line are the flags of `python -m train.train_KIND` (`semdenoise train KIND --help`)."
    train_help = "train a denoiser (separately or jointly through a frozen head) or a head"
    train = commands.add_parser("train", help=train_help, description=about)
    train.add_argument("kind", choices=TRAINING_KINDS, help="denoiser, joint or head")
    train.add_argument("flags", nargs=argparse.REMAINDER, help="--flag=value ...")
    train.set_defaults(run=run_train)


def _model_choice(args) -> shipped.ModelChoice:
    """``shipped.resolve_model`` for ``--model`` / ``--sigma`` (a level: there is no image to estimate from)."""
    try:
        sigma_255 = noise.check_sigma(args.sigma)
    except ValueError as problem:
        raise UsageError(f"--sigma: {problem}") from None
    choice = shipped.resolve_model(args.model, sigma_255)
    if choice.notice:
        note(choice.notice, quiet=False)
    return choice


def run_export_savedmodel(args) -> int:
    """``semdenoise export savedmodel``: 0 written, 2 a bad argument or model."""
    try:
        if args.version is not None and args.version < 1:
            raise UsageError(f"--version must be >= 1, got {args.version}")
        choice = _model_choice(args)
        quiet.import_backend()
        from keras_semdenoise.deploy import export_files, inference

        _, out = export_files.savedmodel(choice.path, args.sigma, args.base, args.name, args.version, args.precision)
    except (ValueError, OSError) as problem:
        error(str(problem))
        return EXIT_USAGE
    say(f"exported {choice.path} ({inference.resolve_precision(args.precision)}) to {out}")
    return EXIT_OK


def run_export_tflite(args) -> int:
    """``semdenoise export tflite``: 0 written, 2 a bad argument, model or calibration folder."""
    try:
        unknown = [p for p in args.precision if p not in TFLITE_PRECISIONS]
        if unknown or not args.precision:
            raise UsageError(f"--precision takes {', '.join(TFLITE_PRECISIONS)}, got {','.join(args.precision)!r}")
        if args.calibration_patches < 1:
            raise UsageError(f"--calibration-patches must be >= 1, got {args.calibration_patches}")
        choice = _model_choice(args)
        calibration = args.calibration_dir or roots.default_training_folder()
        if "int8" in args.precision and not os.path.isdir(calibration):
            raise UsageError(
                f"int8 needs calibration images: no folder {calibration} "
                f"(give --calibration-dir DIR, or set {roots.DEFAULT_DATA_DIR_ENV})"
            )
        quiet.import_backend()
        from keras_semdenoise.deploy import export_files

        _, written = export_files.tflite(
            choice.path, args.sigma, args.out_dir, args.precision, calibration, args.calibration_patches
        )
    except (ValueError, OSError) as problem:
        error(str(problem))
        return EXIT_USAGE
    for out in written:
        say(f"wrote {out} ({os.path.getsize(out) / 1e6:.2f} MB)")
    return EXIT_OK


def _check_evaluation(args) -> list[float]:
    """The noise levels; raises UsageError for a bad level, limit, method, set or model file."""
    try:
        sigmas = [noise.check_sigma(s) for s in args.sigmas]
    except ValueError as problem:
        raise UsageError(f"--sigmas: {problem}") from None
    if not sigmas:
        raise UsageError("--sigmas: give at least one noise level")
    if args.limit < 0:
        raise UsageError(f"--limit must be >= 0, got {args.limit}")
    unknown = [m for m in args.methods if m not in EVALUATION_METHODS]
    if unknown:
        raise UsageError(f"unknown method {unknown[0]!r}: use {', '.join(EVALUATION_METHODS)} or --model NAME=PATH")
    if not args.methods and not args.model:
        raise UsageError("nothing to measure: give --methods or --model NAME=PATH")
    for entry in args.sets:
        roots.set_folder(entry, args.data_root)
    for entry in args.model:
        path = entry.partition("=")[2]
        if path and "{sigma}" not in path and not os.path.isfile(path):
            raise UsageError(f"--model {entry}: model not found: {path}")
    return sigmas


def run_evaluate(args) -> int:
    """``semdenoise evaluate``: prints the tables; 0 measured, 2 a bad argument or set."""
    try:
        sigmas = _check_evaluation(args)
        quiet.import_backend()
        from keras_semdenoise.evaluation import tables

        datasets = tables.load_sets(args.sets, args.data_root, args.limit)
        methods = tables.build_methods(args.methods, args.model)
    except (ValueError, OSError) as problem:
        error(str(problem))
        return EXIT_USAGE
    print(tables.write_tables(datasets, sigmas, methods, args.out, ssim=not args.no_ssim))
    return EXIT_OK


def run_train(args) -> int:
    """``semdenoise train KIND [flags]``: runs ``python -m keras_semdenoise.apps.training_main KIND [flags]``
    (absl parses the flags, in a fresh process as training wants) and returns its exit code."""
    command = [sys.executable, "-m", "keras_semdenoise.apps.training_main", args.kind, *args.flags]
    code = subprocess.call(command)
    if code == 1 and {"--help", "-h", "--helpfull", "--helpshort"} & set(args.flags):
        return EXIT_OK  # absl exits 1 after printing the help it was asked for
    return code
