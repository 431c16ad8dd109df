"""``semdenoise denoise``: image files and folders in, PNGs in the input's form out (see ``apps.cli``)."""

from __future__ import annotations

import os
import sys

from keras_semdenoise import imageio, quiet
from keras_semdenoise.apps import file_plan
from keras_semdenoise.apps.console import EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, UsageError, error, note
from keras_semdenoise.deploy import inference
from keras_semdenoise.models import shipped


def add_parser(commands) -> None:
    """Adds ``denoise`` and its arguments to the ``semdenoise`` subcommands."""
    denoise = commands.add_parser(
        "denoise",
        help="denoise image files and folders (writes PNGs)",
        description="Denoise already-noisy images; each result is <stem><suffix>.png in --out.",
    )
    denoise.add_argument(
        "images", nargs="+", metavar="IMAGES", help="image files and/or folders (the image files directly inside)"
    )
    denoise.add_argument(
        "--sigma",
        default="auto",
        help="noise level of the inputs on the 0..255 scale, which picks the shipped model (the "
        "blind model for a level with no model of its own); 'auto' (default) estimates it "
        "per image and says which model it chose",
    )
    denoise.add_argument("--out", required=True, metavar="DIR", help="output folder (created if missing)")
    denoise.add_argument(
        "--model", metavar="PATH", help="a .keras denoiser to use instead of the shipped model for --sigma"
    )
    denoise.add_argument(
        "--tile-size",
        type=int,
        default=inference.DEFAULT_TILE_SIZE,
        metavar="PX",
        help="images larger than this (plus --overlap) are denoised in tiles of this side "
        f"(default {inference.DEFAULT_TILE_SIZE}; lower it if memory runs out)",
    )
    overlap_help = f"overlap between neighbouring tiles (default {inference.DEFAULT_OVERLAP})"
    denoise.add_argument("--overlap", type=int, default=inference.DEFAULT_OVERLAP, metavar="PX", help=overlap_help)
    denoise.add_argument(
        "--suffix",
        default="_denoised",
        help="added to each output's file stem (default _denoised; write --suffix=-x for one that starts with '-')",
    )
    denoise.add_argument(
        "--precision",
        choices=inference.PRECISIONS,
        default="auto",
        help="compute precision: bf16 (batch norm folded, bf16 inner layers; about 1.85x faster "
        "on CPUs with AVX512_BF16), fp32, or auto (bf16 where the hardware has it; default)",
    )
    denoise.add_argument(
        "--self-ensemble",
        action="store_true",
        help="average the model's results over the 8 flips and rotations of each image: "
        "8x the time for a little more quality (README, 'Results')",
    )
    denoise.add_argument("--quiet", action="store_true", help="errors only: no progress bar and no notes")
    denoise.add_argument(
        "--verbose", action="store_true", help="also show TensorFlow's own start-up and log lines (hidden by default)"
    )
    denoise.set_defaults(run=run_denoise)


def _check_arguments(args) -> float | None:
    """Validates what can be checked before TensorFlow starts; returns sigma (0..255), None for auto."""
    sigma_255 = shipped.parse_sigma_setting(args.sigma)
    if any(separator and separator in args.suffix for separator in ("/", os.sep, os.altsep)):
        raise UsageError(f"--suffix must not contain a path separator, got {args.suffix!r}")
    if args.tile_size < 1 or args.overlap < 0:
        raise UsageError(f"--tile-size must be >= 1 and --overlap >= 0, got {args.tile_size} and {args.overlap}")
    if args.tile_size < 2 * args.overlap:
        raise UsageError(f"--tile-size ({args.tile_size}) must be at least twice --overlap ({args.overlap})")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise UsageError(f"--out {args.out} exists and is not a folder")
    return sigma_255


def _resolve_model(args, sigma_255: float | None) -> str | None:
    """Path of the ``.keras`` model for every file: ``--model``, or the shipped one for ``sigma_255``
    (``shipped.resolve_model``); None with ``--sigma auto`` and no ``--model`` (chosen per file)."""
    if sigma_255 is None and not args.model:
        return None
    choice = shipped.resolve_model(args.model, sigma_255)
    if choice.notice:
        note(choice.notice, args.quiet)
    return choice.path


class _Models:
    """Loaded models by path (``--sigma auto`` may use several), each checked against the tiling once."""

    def __init__(self, args):
        self.args, self.loaded = args, {}

    def get(self, path: str):
        if path not in self.loaded:
            try:
                model = inference.load_denoiser(path, precision=self.args.precision)
            except Exception as failure:  # noqa: BLE001 - a broken or foreign model file is the user's to fix
                first_line = (str(failure).strip().splitlines() or [""])[0]
                raise UsageError(f"cannot load model {path}: {type(failure).__name__}: {first_line}") from None
            _check_tiling(model, self.args.tile_size, self.args.overlap)
            self.loaded[path] = model
        return self.loaded[path]


def _check_tiling(model, tile_size: int, overlap: int) -> None:
    multiple = inference.size_multiple(model)
    if tile_size % multiple or overlap % multiple:
        raise UsageError(
            f"--tile-size ({tile_size}) and --overlap ({overlap}) must be multiples of {multiple} for this model"
        )


def _out_of_memory_errors() -> tuple[type[BaseException], ...]:
    errors: tuple[type[BaseException], ...] = (MemoryError,)
    try:
        import tensorflow as tf

        errors += (tf.errors.ResourceExhaustedError,)
    except ImportError:  # another Keras backend
        pass
    return errors


class _TileProgress:
    """``progress(done, total)`` callback for tiled inference: a second, transient bar."""

    def __init__(self, name: str, disable):
        self.name, self.disable, self.bar = name, disable, None

    def __call__(self, done: int, total: int) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(
                total=total, desc=self.name, unit="tile", leave=False, position=1, disable=self.disable, file=sys.stderr
            )
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _denoise_file(models: _Models, model_path: str | None, path: str, target: str, args, disable_bars) -> None:
    """Reads ``path``, denoises it as (H, W, 3) float32 in [0, 1] with ``model_path`` (None: the model
    ``--sigma auto`` picks from the image's estimated noise level), writes ``target`` in the input's form."""
    loaded = imageio.load_image(path)
    for message in loaded.notes:
        note(f"{path}: {message}", args.quiet)
    if model_path is None:
        choice = shipped.resolve_model(pixels=loaded.pixels)
        model_path = choice.path
        note(f"{path}: {choice.description}", args.quiet)
    model = models.get(model_path)
    tiles = _TileProgress(os.path.basename(path), disable_bars)
    try:
        estimate = inference.denoise(
            model, loaded.pixels, args.tile_size, args.overlap, progress=tiles, self_ensemble=args.self_ensemble
        )
    finally:
        tiles.close()
    imageio.save_like(target, estimate, loaded)


def run_denoise(args) -> int:
    """``semdenoise denoise``: returns the exit code (0 all done, 1 some failed, 2 usage / no model)."""
    if args.verbose:
        os.environ[quiet.VERBOSE_ENV] = "1"
    quiet.import_backend()
    try:
        sigma_255 = _check_arguments(args)
        files, input_problems = file_plan.expand_inputs(args.images)
        if not files:
            for problem in input_problems:
                error(problem)
            raise UsageError("no images to denoise")
        model_path = _resolve_model(args, sigma_255)
    except (ValueError, FileNotFoundError) as failure:
        error(str(failure))
        return EXIT_USAGE

    models = _Models(args)
    try:
        if model_path is not None:
            models.get(model_path)
        os.makedirs(args.out, exist_ok=True)
    except UsageError as failure:
        error(str(failure))
        return EXIT_USAGE
    except OSError as failure:
        error(f"cannot create --out {args.out}: {failure.strerror or failure}")
        return EXIT_USAGE

    jobs, plan_problems = file_plan.plan_outputs(files, args.out, args.suffix)
    failed = 0
    for problem in input_problems + plan_problems:
        error(problem)
        failed += 1

    from tqdm import tqdm

    out_of_memory = _out_of_memory_errors()
    disable_bars = True if args.quiet else None  # None: tqdm shows bars only on a terminal
    for path, target in tqdm(jobs, desc="denoising", unit="image", disable=disable_bars, file=sys.stderr):
        try:
            _denoise_file(models, model_path, path, target, args, disable_bars)
        except UsageError as failure:  # a shipped model that --sigma auto picked cannot be loaded
            error(str(failure))
            failed += 1
        except imageio.ImageReadError as failure:
            error(str(failure))
            failed += 1
        except out_of_memory:
            error(f"{path}: out of memory; try a smaller --tile-size (now {args.tile_size})")
            failed += 1
        except (ValueError, OSError) as failure:
            error(f"{path}: {failure}")
            failed += 1
    return EXIT_SOME_FAILED if failed else EXIT_OK
