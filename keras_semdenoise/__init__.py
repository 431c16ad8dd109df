"""keras-semdenoise: image denoising that helps high-level vision (Liu et al., IEEE TIP 2020).

Public API (images are float32 RGB in [0, 1], NHWC / HWC):

    from keras_semdenoise import load_denoiser, shipped_model_for_sigma, denoise
    model = load_denoiser(shipped_model_for_sigma(25)[0])
    estimate = denoise(model, noisy_image)        # (H, W, 3) float32

Names are imported on first use, so ``import keras_semdenoise`` (and the CLI's
``--help``) does not start TensorFlow. Every custom Keras object (layers, metrics,
losses) is registered as soon as Keras is imported, whether before or after this
package, so after ``import keras_semdenoise`` ``keras.saving.load_model`` opens any
shipped ``.keras`` file (the keras-hub convention).
"""

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

_PUBLIC = {
    "build_denoiser": "keras_semdenoise.models.denoiser",
    "MultiScaleDenoiser": "keras_semdenoise.models.denoiser",
    "denoise": "keras_semdenoise.deploy.inference",
    "load_denoiser": "keras_semdenoise.deploy.inference",
    "shipped_model_for_sigma": "keras_semdenoise.models.shipped",
    "shipped_models": "keras_semdenoise.models.shipped",
    "resolve_model": "keras_semdenoise.models.shipped",
    "psnr_uint8": "keras_semdenoise.metrics",
    "ssim_uint8": "keras_semdenoise.metrics",
    "add_seeded_gaussian_noise": "keras_semdenoise.noise",
}
__all__ = sorted(_PUBLIC)
__version__ = "0.1.0"


# The modules that register custom objects with ``keras.saving.register_keras_serializable``.
_REGISTERING_MODULES = (
    "keras_semdenoise.models.denoiser",
    "keras_semdenoise.deploy.graph_transforms",
    "keras_semdenoise.metrics",
    "keras_semdenoise.training.losses",
    "keras_semdenoise.models.heads",
    "keras_semdenoise.models.peers",
    "keras_semdenoise.models.published_peers",
)


def register_custom_objects():
    """Imports every module that registers a custom Keras object (imports Keras)."""
    for module in _REGISTERING_MODULES:
        importlib.import_module(module)


class _RegisterAfterKeras(importlib.abc.MetaPathFinder):
    """Runs ``register_custom_objects`` right after ``keras`` itself has been imported.

    It stays on ``sys.meta_path`` until Keras is really executed: a bare ``importlib.util.find_spec("keras")``
    (TensorFlow makes one to see whether Keras is installed) asks for a spec without importing it, and the
    import that follows gets a fresh spec, so each spec handed out is wrapped.
    """

    _busy = False

    def find_spec(self, name, path=None, target=None):
        if name != "keras" or self._busy:
            return None
        self._busy = True
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self._busy = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        execute = spec.loader.exec_module

        def exec_module(module):
            execute(module)
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            try:
                register_custom_objects()
            except Exception as error:  # noqa: BLE001 - never break `import keras` itself
                warnings.warn(f"keras_semdenoise could not register its Keras objects: {error}", stacklevel=2)

        spec.loader.exec_module = exec_module
        return spec


if "keras" in sys.modules:
    register_custom_objects()
elif not any(isinstance(finder, _RegisterAfterKeras) for finder in sys.meta_path):
    sys.meta_path.insert(0, _RegisterAfterKeras())


def __getattr__(name):
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'keras_semdenoise' has no attribute {name!r}")
