"""Copy a training run's best weights into saved_models/ as a standalone .keras model.

    python -m tools.ship_model --run runs/sigma25 --name denoiser_sigma25

Also records the run's steps, best evaluation PSNR and machine in saved_models/MODELS.json.
"""

from __future__ import annotations

import json
import os
import platform

from absl import app, flags

from keras_semdenoise import inference, training

FLAGS = flags.FLAGS
flags.DEFINE_string("run", None, "Training run folder (train/train_denoiser.py --model_dir).", required=True)
flags.DEFINE_string("name", None, "Model name, e.g. denoiser_sigma25.", required=True)
flags.DEFINE_string("out_dir", None, "Destination folder (default: the shipped models folder).")
flags.DEFINE_string("hardware", f"{os.cpu_count()}-core {platform.machine()} CPU", "Hardware the run trained on.")
flags.DEFINE_bool("best", True, "Ship the best-evaluated checkpoint rather than the last.")


def main(argv):
    del argv
    out_dir = FLAGS.out_dir or inference.models_dir()
    os.makedirs(out_dir, exist_ok=True)
    out_path = os.path.join(out_dir, f"{FLAGS.name}.keras")
    weights = training.export_shipped_model(FLAGS.run, out_path, use_best=FLAGS.best)
    with open(os.path.join(FLAGS.run, "config.json")) as handle:
        config = json.load(handle)
    history = []
    if os.path.exists(os.path.join(FLAGS.run, "history.json")):
        with open(os.path.join(FLAGS.run, "history.json")) as handle:
            history = json.load(handle)
    evaluated = [h for h in history if "eval_psnr" in h]
    best = max(evaluated, key=lambda h: h["eval_psnr"]) if evaluated else None
    shipped_step = best["step"] if (best and os.path.basename(weights).startswith("best")) else (
        history[-1]["step"] if history else None)
    index_path = os.path.join(out_dir, "MODELS.json")
    index = {}
    if os.path.exists(index_path):
        with open(index_path) as handle:
            index = json.load(handle)
    index[FLAGS.name] = {
        "file": os.path.basename(out_path),
        "sigma": config.get("sigma"),
        "sigma_range": config.get("sigma_range"),
        "steps_trained": shipped_step,
        "batch_size": config.get("batch_size"),
        "patch_size": config.get("patch_size"),
        "init_weights": config.get("init_weights"),
        "eval_psnr_db": best["eval_psnr"] if best else None,
        "eval": f"first {config.get('eval_images')} images of {os.path.basename(str(config.get('eval_dir')))}, sigma {config.get('eval_sigma') or config.get('sigma')}",
        "hardware": FLAGS.hardware,
    }
    with open(index_path + ".tmp", "w") as handle:
        json.dump(index, handle, indent=2)
    os.replace(index_path + ".tmp", index_path)
    print(f"wrote {out_path} from {weights}: {index[FLAGS.name]}")


if __name__ == "__main__":
    app.run(main)
