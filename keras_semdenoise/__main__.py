"""``python -m keras_semdenoise`` is the ``semdenoise`` command."""

import sys

from keras_semdenoise.apps.cli import main

if __name__ == "__main__":
    sys.exit(main())
