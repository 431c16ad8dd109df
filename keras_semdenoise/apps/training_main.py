"""``python -m keras_semdenoise.apps.training_main KIND [--flag=value ...]``: what ``semdenoise train KIND`` runs
(``apps.training_runs``; KIND is denoiser, joint or head). The flags are this module's, so ``--help`` lists them."""

import sys

from keras_semdenoise import quiet
from keras_semdenoise.apps import training_runs

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in training_runs.MAINS:
        print(f"error: semdenoise train takes one of {', '.join(training_runs.KINDS)}", file=sys.stderr)
        sys.exit(training_runs.EXIT_USAGE)
    kind = sys.argv.pop(1)
    quiet.import_backend()  # the flags are the config fields, and the configs live beside the training code
    training_runs.run(training_runs.MAINS[kind]())
