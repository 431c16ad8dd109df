"""``python -m experiments.zoo --queue cpu --work runs/zoo``: see ``experiments.zoo.runner``."""

from absl import app

from experiments.zoo.runner import main

if __name__ == "__main__":
    app.run(main)
