"""Denoise many image files with an Apache Beam pipeline (``keras_semdenoise.apps.beam_pipeline``).

    python -m tools.beam_denoise --input 'photos/*.jpg' --out denoised/ [--sigma auto] [--precision auto]

Runs on the DirectRunner by default (this machine). Other runners take Beam's own flags after ours, e.g.
Dataflow: ``--runner DataflowRunner --project P --region R --temp_location gs://B/tmp
--requirements_file requirements.txt`` with ``--input 'gs://B/in/*.png' --out gs://B/out``; Flink:
``--runner FlinkRunner --flink_master host:8081 --environment_type LOOPBACK``; Spark:
``--runner SparkRunner --spark_master_url spark://host:7077``. Install with ``pip install '.[beam]'``.

Writes ``<out>/<stem><suffix>.png`` per image, ``<out>/manifest.jsonl`` (one line per output) and
``<out>/failed.jsonl`` (each file that could not be done: stage and reason). Exit code 0 when nothing
failed, 1 when some files failed (they are listed), 2 for bad arguments.
Beam's convention for flags (argparse; unknown flags are Beam pipeline options) is kept here.
"""

from __future__ import annotations

import argparse
import logging
import sys

from keras_semdenoise import quiet


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    from keras_semdenoise.apps import beam_pipeline
    from keras_semdenoise.deploy import inference

    defaults = beam_pipeline.DenoiseSettings()
    parser = argparse.ArgumentParser(prog="python -m tools.beam_denoise", description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", required=True, help="glob of image files (any Beam file system)")
    parser.add_argument("--out", required=True, help="output folder (any Beam file system)")
    parser.add_argument("--sigma", default=defaults.sigma, help="'auto' (default) or the noise level 0..255")
    parser.add_argument("--model", default=defaults.model, help="a .keras denoiser for every image")
    parser.add_argument("--precision", default=defaults.precision, choices=inference.PRECISIONS)
    parser.add_argument("--tile-size", type=int, default=defaults.tile_size)
    parser.add_argument("--overlap", type=int, default=defaults.overlap)
    parser.add_argument("--suffix", default=defaults.suffix)
    parser.add_argument("--models-dir", default=defaults.models_dir, help="folder of the shipped models")
    return parser.parse_known_args(argv)


class _HideImportWarnings(logging.Filter):
    """Drops Beam's start-up warnings that concern optional Google Cloud and platform extras, not this run."""

    NOISE = ("apitools not found", "Resource module is not available")

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(text in record.getMessage() for text in self.NOISE)


def main(argv: list[str] | None = None) -> int:
    for handler in logging.getLogger().handlers or [logging.lastResort]:
        handler.addFilter(_HideImportWarnings())
    quiet.import_backend()
    import apache_beam as beam
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.options.pipeline_options import PipelineOptions

    from keras_semdenoise import noise
    from keras_semdenoise.apps import beam_pipeline

    args, beam_args = parse(sys.argv[1:] if argv is None else argv)
    try:
        if str(args.sigma).strip().lower() != "auto":
            noise.check_sigma(args.sigma)
        if args.tile_size < 2 * args.overlap or args.overlap < 0:
            raise ValueError(f"--tile-size ({args.tile_size}) must be at least twice --overlap ({args.overlap})")
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    settings = beam_pipeline.DenoiseSettings(
        sigma=args.sigma,
        model=args.model,
        precision=args.precision,
        tile_size=args.tile_size,
        overlap=args.overlap,
        suffix=args.suffix,
        models_dir=args.models_dir,
    )
    if not FileSystems.exists(args.out):
        FileSystems.mkdirs(args.out)
    with beam.Pipeline(options=PipelineOptions(beam_args)) as pipeline:
        beam_pipeline.build(pipeline, args.input, args.out, settings)
    failed_path = FileSystems.join(args.out, beam_pipeline.FAILED + ".jsonl")
    with FileSystems.open(failed_path) as handle:
        failures = [line for line in handle.read().decode().splitlines() if line.strip()]
    with FileSystems.open(FileSystems.join(args.out, beam_pipeline.MANIFEST + ".jsonl")) as handle:
        done = sum(1 for line in handle.read().decode().splitlines() if line.strip())
    print(
        f"denoised {done} file(s) into {args.out}; {len(failures)} failed"
        + (f" (see {failed_path})" if failures else "")
    )
    for line in failures:
        print(f"failed: {line}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
