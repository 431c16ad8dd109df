"""Batch denoising on Apache Beam: image files from a glob -> denoised PNGs, a manifest and a dead-letter file.

    files (glob) --match--> claim output names --read+decode--> RunInference(DenoiserModelHandler)
        --encode+write--> manifest.jsonl          any failure at any stage --> failed.jsonl (path, stage, reason)

Every step is the CLI's (``semdenoise denoise``): the same reader (``imageio.read_image_bytes``), the same
model choice for ``--sigma`` and ``--model`` (``shipped.resolve_model``), the same output names
(``file_plan.output_name``), the same tiled inference and the same writer (``imageio.encode_like``), so an output
equals the CLI's for the same file and settings. Files are read and written through ``apache_beam.io.filesystems``, so
globs and outputs may be local paths or any file system the runner has (``gs://`` on Dataflow, ...).

Every matched file ends in exactly one of the two outputs: ``manifest.jsonl`` (one JSON line per written PNG:
input, output, model, estimated sigma, size, seconds) or ``failed.jsonl`` (input, stage, reason).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems
from apache_beam.ml.inference.base import ModelHandler, PredictionResult, RunInference

from keras_semdenoise import imageio
from keras_semdenoise.apps import file_plan
from keras_semdenoise.deploy import inference
from keras_semdenoise.models import shipped

MANIFEST, FAILED = "manifest", "failed"


@dataclass(frozen=True)
class DenoiseSettings:
    """What every worker needs to denoise one file as ``semdenoise denoise`` would (its flags, same defaults)."""

    sigma: str = "auto"  # "auto" or a level on the 0..255 scale
    model: str | None = None  # a .keras file used for every image instead of the shipped models
    precision: str = "auto"
    tile_size: int = inference.DEFAULT_TILE_SIZE
    overlap: int = inference.DEFAULT_OVERLAP
    suffix: str = "_denoised"
    models_dir: str | None = None

    def model_path(self, pixels) -> tuple[str, float | None]:
        """``(model path, estimated sigma or None)`` for one image (float32 (H, W, 3) in [0, 1])."""
        choice = shipped.resolve_model(self.model, self.sigma, pixels, folder=self.models_dir)
        return choice.path, choice.estimate


class _Models:
    """Denoisers by path, loaded on first use (``--sigma auto`` may use several on one worker)."""

    def __init__(self, precision: str):
        self.precision, self.loaded = precision, {}

    def get(self, path: str):
        if path not in self.loaded:
            self.loaded[path] = inference.load_denoiser(path, precision=self.precision)
        return self.loaded[path]


class DenoiserModelHandler(ModelHandler):
    """``RunInference`` handler: ``(input path, LoadedImage)`` -> ``PredictionResult`` whose inference is
    ``{"pixels": (H, W, 3) float32 denoised, "model": file name, "estimate": sigma or None, "seconds"}``.

    One image per batch (sizes differ; large images are tiled inside ``inference.denoise``).
    """

    def __init__(self, settings: DenoiseSettings):
        super().__init__()
        self.settings = settings

    def load_model(self) -> _Models:
        from keras_semdenoise import quiet

        quiet.import_backend()
        return _Models(self.settings.precision)

    def run_inference(self, batch, model: _Models, inference_args=None):
        results = []
        for path, loaded in batch:
            start = time.perf_counter()
            model_path, estimate = self.settings.model_path(loaded.pixels)
            denoiser = model.get(model_path)
            pixels = inference.denoise(denoiser, loaded.pixels, self.settings.tile_size, self.settings.overlap)
            results.append(
                PredictionResult(
                    (path, loaded),
                    {
                        "pixels": pixels,
                        "model": os.path.basename(model_path),
                        "estimate": estimate,
                        "seconds": time.perf_counter() - start,
                    },
                )
            )
        return results

    def batch_elements_kwargs(self):
        return {"min_batch_size": 1, "max_batch_size": 1}

    def share_model_across_processes(self) -> bool:
        return False


def _failure(path: str, stage: str, reason: str) -> str:
    return json.dumps({"input": path, "stage": stage, "reason": reason})


def output_path(path: str, out_dir: str, suffix: str) -> str:
    """``out_dir/<stem><suffix>.png`` (the CLI's naming) on any Beam file system."""
    return FileSystems.join(out_dir, file_plan.output_name(path, suffix))


class _ClaimOutputs(beam.DoFn):
    """``(output, [inputs])`` -> the input that keeps that output (the first by path); the rest fail."""

    def process(self, element):
        target, paths = element
        paths = sorted(paths)
        yield paths[0], target
        for other in paths[1:]:
            yield beam.pvalue.TaggedOutput(
                FAILED, _failure(other, "plan", f"output {target} is also the output of {paths[0]}; rename one of them")
            )


class _Read(beam.DoFn):
    """``(input path, output path)`` -> ``(input path, LoadedImage)``, keyed for the writer."""

    def process(self, element):
        path, target = element
        try:
            with FileSystems.open(path) as handle:
                data = handle.read()
            yield path, imageio.read_image_bytes(data, path)
        except imageio.ImageReadError as error:
            yield beam.pvalue.TaggedOutput(FAILED, _failure(path, "read", str(error)))
        except OSError as error:
            yield beam.pvalue.TaggedOutput(FAILED, _failure(path, "read", f"{path}: {error}"))


class _Write(beam.DoFn):
    """``PredictionResult`` -> the PNG written beside the manifest line; write errors go to the dead letters."""

    def __init__(self, out_dir: str, suffix: str):
        self.out_dir, self.suffix = out_dir, suffix

    def process(self, result: PredictionResult):
        path, loaded = result.example
        target = output_path(path, self.out_dir, self.suffix)
        try:
            data = imageio.encode_like(result.inference["pixels"], loaded)
            with FileSystems.create(target) as handle:
                handle.write(data)
        except (OSError, ValueError) as error:
            yield beam.pvalue.TaggedOutput(FAILED, _failure(path, "write", f"{target}: {error}"))
            return
        height, width = loaded.pixels.shape[:2]
        estimate = result.inference["estimate"]
        yield json.dumps(
            {
                "input": path,
                "output": target,
                "model": result.inference["model"],
                "estimated_sigma": None if estimate is None else round(float(estimate), 3),
                "height": height,
                "width": width,
                "seconds": round(result.inference["seconds"], 3),
            }
        )


def _inference_failure(element) -> str:
    batch, error = element
    examples = batch if isinstance(batch, (list, tuple)) else [batch]
    paths = [example[0] if isinstance(example, tuple) else str(example) for example in examples]
    return "\n".join(_failure(p, "denoise", f"{type(error).__name__}: {error}") for p in paths)


def build(pipeline: beam.Pipeline, input_glob: str, out_dir: str, settings: DenoiseSettings):
    """Adds the denoising steps to ``pipeline``; returns ``(manifest lines, failure lines)`` PCollections.

    The manifest and the failures are also written as ``out_dir/manifest.jsonl`` and ``out_dir/failed.jsonl``
    (one shard each; ``failed.jsonl`` is empty when nothing failed).
    """
    paths = (
        pipeline
        | "Match" >> fileio.MatchFiles(input_glob, empty_match_treatment=fileio.EmptyMatchTreatment.DISALLOW)
        | "Paths" >> beam.Map(lambda metadata: metadata.path)
    )
    not_images = (
        paths
        | "NotImages" >> beam.Filter(lambda p: not imageio.is_image_path(p))
        | "NotImageReason"
        >> beam.Map(
            lambda p: _failure(p, "match", f"{p}: not an image file name ({', '.join(imageio.IMAGE_EXTENSIONS)})")
        )
    )
    claimed = (
        paths
        | "Images" >> beam.Filter(imageio.is_image_path)
        | "ByOutput" >> beam.Map(lambda p: (output_path(p, out_dir, settings.suffix), p))
        | "GroupByOutput" >> beam.GroupByKey()
        | "Claim" >> beam.ParDo(_ClaimOutputs()).with_outputs(FAILED, main="jobs")
    )
    read = claimed.jobs | "Read" >> beam.ParDo(_Read()).with_outputs(FAILED, main="images")
    denoised, dead = read.images | "Denoise" >> RunInference(DenoiserModelHandler(settings)).with_exception_handling()
    written = denoised | "Write" >> beam.ParDo(_Write(out_dir, settings.suffix)).with_outputs(FAILED, main=MANIFEST)
    inference_failures = dead.failed_inferences | "DenoiseReason" >> beam.FlatMap(
        lambda element: _inference_failure(element).splitlines()
    )
    failures = (
        not_images,
        claimed[FAILED],
        read[FAILED],
        inference_failures,
        written[FAILED],
    ) | "AllFailures" >> beam.Flatten()
    manifest = written[MANIFEST]
    manifest | "WriteManifest" >> beam.io.WriteToText(
        FileSystems.join(out_dir, MANIFEST), file_name_suffix=".jsonl", shard_name_template=""
    )
    failures | "WriteFailed" >> beam.io.WriteToText(
        FileSystems.join(out_dir, FAILED), file_name_suffix=".jsonl", shard_name_template=""
    )
    return manifest, failures
