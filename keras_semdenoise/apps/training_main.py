"""``python -m keras_semdenoise.apps.training_main KIND [--flag=value ...]``: what ``semdenoise train KIND`` runs
(``apps.training_runs``; KIND is denoiser, joint or head). The flags are this module's, so ``--help`` lists them."""

import sys

from absl import app

from keras_semdenoise.apps.training_runs import KINDS, MAINS

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in MAINS:
        sys.exit(f"usage: semdenoise train {{{','.join(KINDS)}}} [--flag=value ...]")
    kind = sys.argv.pop(1)
    main = MAINS[kind]()
    app.run(main)
