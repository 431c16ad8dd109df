"""Build hook: the wheel carries the shipped models as package data, ``keras_semdenoise/saved_models/``.

Everything else about the package is declared in ``setup.cfg``. The models stay where the project keeps
them, ``saved_models/`` at the top of the checkout; ``build_py`` copies the shipped ones (the top-level
``*.keras`` files and their records, never ``experiments/reproduce/models_reduced/``) into the build tree, and lists them
as its sources so the sdist carries them too (a wheel built from the sdist gets them the same way).
Editable installs copy nothing: they read the checkout's ``saved_models/`` (``models.shipped.models_dir``).
"""

import glob
import os

from setuptools import setup
from setuptools.command.build_py import build_py

MODELS_SOURCE = "saved_models"
MODELS_PACKAGE_DIR = os.path.join("keras_semdenoise", "saved_models")  # models.shipped.INSTALLED_MODELS_DIR
SHIPPED_MODEL_PATTERNS = ("*.keras", "MODELS.json", "*.history.json")


def shipped_model_files() -> list[str]:
    """Paths (relative to the project root, sorted) of the files the wheel ships from ``saved_models/``."""
    return sorted(
        {path for pattern in SHIPPED_MODEL_PATTERNS for path in glob.glob(os.path.join(MODELS_SOURCE, pattern))}
    )


class BuildPyWithModels(build_py):
    """``build_py`` that also copies the shipped models into ``<build_lib>/keras_semdenoise/saved_models/``."""

    def run(self):
        super().run()
        if self.editable_mode:
            return
        target = os.path.join(self.build_lib, MODELS_PACKAGE_DIR)
        self.mkpath(target)
        for path in shipped_model_files():
            self.copy_file(path, os.path.join(target, os.path.basename(path)))

    def get_source_files(self):
        return [*super().get_source_files(), *shipped_model_files()]

    def get_outputs(self, include_bytecode=True):
        outputs = super().get_outputs(include_bytecode)
        if self.editable_mode:
            return outputs
        target = os.path.join(self.build_lib, MODELS_PACKAGE_DIR)
        return [*outputs, *(os.path.join(target, os.path.basename(path)) for path in shipped_model_files())]


setup(cmdclass={"build_py": BuildPyWithModels})
