"""The ``semdenoise`` command.

    semdenoise denoise IMAGES... --sigma 25 --out DIR [--model PATH]

Files and folders in (PNG/JPEG/TIFF/...), PNG out. User errors are one line on
stderr and a non-zero exit code; the other files are still processed.
Exit codes: 0 all done, 1 some files failed, 2 bad arguments or no model.
"""

from __future__ import annotations

import argparse
import os
import sys

from keras_semdenoise import imageio, noise

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="semdenoise", description="Denoise images (Liu et al., TIP 2020).")
    commands = parser.add_subparsers(dest="command", required=True)
    denoise = commands.add_parser("denoise", help="denoise image files and folders")
    denoise.add_argument("images", nargs="+", help="image files and/or folders of images")
    denoise.add_argument("--sigma", required=True, help="noise level of the inputs on the 0..255 scale (picks the model)")
    denoise.add_argument("--out", required=True, help="output folder (created if missing)")
    denoise.add_argument("--model", help="a .keras denoiser (default: the shipped model for --sigma)")
    denoise.add_argument("--suffix", default="_denoised", help="added to each output's file name (default: _denoised)")
    denoise.add_argument("--tile-size", type=int, default=None, help="tile side for large images (default 512)")
    denoise.add_argument("--overlap", type=int, default=None, help="tile overlap in pixels (default 96)")
    denoise.add_argument("--quiet", action="store_true", help="no progress bar or notices")
    return parser


def _error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def _note(message: str, quiet: bool) -> None:
    if not quiet:
        print(f"note: {message}", file=sys.stderr)


def expand_inputs(paths: list[str]) -> tuple[list[str], list[str]]:
    """Files named directly plus the image files inside named folders; and the problems found."""
    files, problems = [], []
    for path in paths:
        if os.path.isdir(path):
            found = imageio.list_image_files(path)
            if not found:
                problems.append(f"{path}: folder holds no image files")
            files.extend(found)
        elif os.path.exists(path):
            files.append(path)
        else:
            problems.append(f"{path}: no such file or folder")
    return list(dict.fromkeys(files)), problems


def _resolve_model(args) -> str:
    if args.model:
        if not os.path.isfile(args.model):
            raise FileNotFoundError(f"model not found: {args.model}")
        return args.model
    from keras_semdenoise import inference

    path, notice = inference.shipped_model_for_sigma(noise.check_sigma(args.sigma))
    if notice:
        _note(notice, args.quiet)
    return path


def run_denoise(args) -> int:
    try:
        noise.check_sigma(args.sigma)
        files, problems = expand_inputs(args.images)
        model_path = _resolve_model(args)
    except (ValueError, FileNotFoundError) as error:
        _error(str(error))
        return EXIT_USAGE
    from tqdm import tqdm

    from keras_semdenoise import inference

    tiling = {k: v for k, v in (("tile_size", args.tile_size), ("overlap", args.overlap)) if v is not None}
    try:
        model = inference.load_denoiser(model_path)
    except Exception as error:  # noqa: BLE001 - a broken model file is a user error here
        _error(f"cannot load model {model_path}: {error}")
        return EXIT_USAGE
    for problem in problems:
        _error(problem)
    inputs = {os.path.realpath(f) for f in files}
    os.makedirs(args.out, exist_ok=True)
    failed = len(problems)
    for path in tqdm(files, desc="denoising", unit="image", disable=args.quiet or not files):
        stem = os.path.splitext(os.path.basename(path))[0]
        target = os.path.join(args.out, f"{stem}{args.suffix}.png")
        if os.path.realpath(target) in inputs:
            _error(f"{path}: output {target} would overwrite an input; choose another --out or --suffix")
            failed += 1
            continue
        try:
            loaded = imageio.load_image(path)
            for message in loaded.notes:
                _note(f"{path}: {message}", args.quiet)
            imageio.save_png(target, inference.denoise(model, loaded.pixels, **tiling))
        except (imageio.ImageReadError, ValueError, OSError) as error:
            _error(str(error) if isinstance(error, imageio.ImageReadError) else f"{path}: {error}")
            failed += 1
    if not files:
        _error("no images to denoise")
        return EXIT_USAGE
    return EXIT_SOME_FAILED if failed else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = _parser().parse_args(argv)
    if args.command == "denoise":
        return run_denoise(args)
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
