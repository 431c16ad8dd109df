"""One jitted JAX training step with the data on the device: the GPU slot's way to train one denoiser as fast as
the chip allows, with no host pipeline to wait for.

The training images are uploaded once (``DeviceImages``: uint8, about 185 MB for CBSD432) and every step draws
its batch inside the compiled program from a PRNG key, with the host pipeline's definition of an example
(``data.patches``): an image drawn by its source's weight, then uniformly within the source; a square crop at a
uniform position; one of the 8 flips/rotations (``patches.dihedral``'s index: ``rot90`` by ``d % 4``, then a
left-right flip if ``d >= 4``); Gaussian noise of a fixed sigma or a sigma drawn uniformly per patch
(``noise.add_gaussian_noise_np``'s model, unclipped). The model (``models.denoiser.build_denoiser``, optionally
``mixed_bfloat16``) learns by MSE with Adam, written with Keras 3's stateless API (``model.stateless_call``,
``optimizer.stateless_apply``; keras-io ``guides/custom_train_step_in_jax.py``).

Needs ``KERAS_BACKEND=jax``; this module imports without JAX (JAX is imported inside the functions).

    trainer = DeviceStep(build_denoiser(), device_images_from_sources(sources, 48), 48, 32, sigma_255=25)
    state = trainer.initial_state()
    state, losses = trainer.train(state, steps=1000, seed=0)
    trainer.write_back(state)            # the model's variables now hold the trained values
"""

from __future__ import annotations

import dataclasses

import numpy as np

from keras_semdenoise import noise
from keras_semdenoise.data import patches


@dataclasses.dataclass
class DeviceImages:
    """Training images packed for the device.

    ``pixels``: (N, H_max, W_max, 3) uint8, each image at the top left of its slot (zeros beyond it), portrait
    images transposed to landscape (a transpose is one of the 8 flips/rotations, which are drawn uniformly, so
    the distribution of patches is unchanged, and 481 x 321 and 321 x 481 share a 321 x 481 slot);
    ``heights``, ``widths``: (N,) int32; ``probabilities``: (N,) float32, summing to 1 (source weight / images
    in the source).
    """

    pixels: np.ndarray
    heights: np.ndarray
    widths: np.ndarray
    probabilities: np.ndarray

    def as_jax(self) -> dict:
        """The arrays on the default JAX device, as ``draw_batch`` takes them."""
        import jax

        return {f.name: jax.device_put(getattr(self, f.name)) for f in dataclasses.fields(self)}


def device_images(pools: list[list[np.ndarray]], weights=None) -> DeviceImages:
    """``DeviceImages`` of per-source pools of uint8 (H, W, 3) images (``patches.load_training_images``), the
    sources drawn by ``weights`` (default equal).

    Raises:
        ValueError: an empty pool, a weight below zero or all weights zero.
    """
    weights = np.ones(len(pools)) if weights is None else np.asarray(weights, np.float64)
    if not pools or any(len(pool) == 0 for pool in pools) or len(weights) != len(pools):
        raise ValueError("give one non-empty list of images per source, and one weight per source")
    if (weights < 0).any() or weights.sum() <= 0:
        raise ValueError(f"source weights must be >= 0 and not all zero, got {weights.tolist()}")
    images = [
        image if image.shape[0] <= image.shape[1] else image.transpose(1, 0, 2) for pool in pools for image in pool
    ]
    heights = np.asarray([image.shape[0] for image in images], np.int32)
    widths = np.asarray([image.shape[1] for image in images], np.int32)
    pixels = np.zeros((len(images), heights.max(), widths.max(), 3), np.uint8)
    for slot, image in enumerate(images):
        pixels[slot, : image.shape[0], : image.shape[1]] = image
    shares = weights / weights.sum()
    probabilities = np.concatenate([np.full(len(pool), share / len(pool)) for pool, share in zip(pools, shares)])
    return DeviceImages(pixels, heights, widths, probabilities.astype(np.float32))


def device_images_from_sources(sources: list[patches.Source], patch_size: int, holdout: bool = True) -> DeviceImages:
    """``DeviceImages`` of training sources (``patches.parse_sources``), the validation ids held out."""
    pools = patches.load_training_images(sources, patch_size, holdout)
    return device_images(pools, [s.weight for s in sources])


def dihedral_batch(patches_nhwc, indices):
    """The ``indices``-th (N,) int flip/rotation of each square patch in ``patches_nhwc`` (N, P, P, C), as
    ``patches.dihedral``: ``rot90`` by ``d % 4`` (a transpose then row/column flips), left-right flip if ``d >= 4``."""
    import jax.numpy as jnp

    quarter = indices % 4

    def where(condition, a, b):
        return jnp.where(condition[:, None, None, None], a, b)

    x = where(quarter % 2 == 1, jnp.swapaxes(patches_nhwc, 1, 2), patches_nhwc)
    x = where((quarter == 1) | (quarter == 2), x[:, ::-1], x)
    flip_columns = ((quarter == 2) | (quarter == 3)) != (indices >= 4)
    return where(flip_columns, x[:, :, ::-1], x)


def draw_batch(
    key,
    images: dict,
    patch_size: int,
    batch_size: int,
    sigma_255: float | None = None,
    sigma_range_255: tuple[float, float] | None = None,
) -> dict:
    """One training batch drawn on the device from ``key`` (jit it with the sizes and sigmas static).

    Args:
        key: a JAX PRNG key.
        images: ``DeviceImages.as_jax()``.
        patch_size, batch_size: the batch's shape; every image must be at least ``patch_size`` on each side.
        sigma_255, sigma_range_255: exactly one: the noise level (0..255), or the range it is drawn from per patch.

    Returns:
        ``{"noisy", "clean"}`` (batch, patch, patch, 3) float32, clean in [0, 1]; and what was drawn: ``"image"``,
        ``"top"``, ``"left"``, ``"dihedral"`` (batch,) int32, ``"sigma_255"`` (batch,) float32.
    """
    import jax
    import jax.numpy as jnp

    image_key, top_key, left_key, dihedral_key, sigma_key, noise_key = jax.random.split(key, 6)
    count = images["pixels"].shape[0]
    index = jax.random.choice(image_key, count, (batch_size,), p=images["probabilities"])
    top = jax.random.randint(top_key, (batch_size,), 0, images["heights"][index] - patch_size + 1)
    left = jax.random.randint(left_key, (batch_size,), 0, images["widths"][index] - patch_size + 1)

    def crop(i, t, col):
        return jax.lax.dynamic_slice(images["pixels"], (i, t, col, 0), (1, patch_size, patch_size, 3))[0]

    crops = jax.vmap(crop)(index, top, left)
    turns = jax.random.randint(dihedral_key, (batch_size,), 0, patches.NUM_DIHEDRAL)
    clean = dihedral_batch(crops, turns).astype(jnp.float32) / 255.0
    if sigma_255 is not None:
        sigmas = jnp.full((batch_size,), sigma_255, jnp.float32)
    else:
        sigmas = jax.random.uniform(sigma_key, (batch_size,), jnp.float32, *sigma_range_255)
    gaussian = jax.random.normal(noise_key, clean.shape, jnp.float32)
    noisy = clean + (sigmas / 255.0)[:, None, None, None] * gaussian
    return dict(noisy=noisy, clean=clean, image=index, top=top, left=left, dihedral=turns, sigma_255=sigmas)


class DeviceStep:
    """Trains ``model`` (float32 or ``mixed_bfloat16``) by MSE with Adam on batches drawn on the device.

    The state is ``(trainable, non_trainable, optimizer variables, step)``, arrays only, so it stays on the device
    between calls; ``steps_per_call`` steps run inside one compiled call (``lax.scan``), step ``s`` drawing its
    batch from ``fold_in(key(seed), s)``, so the batches do not depend on how the steps are grouped.

    Raises:
        ValueError: Keras is not on the JAX backend, or not exactly one of ``sigma_255`` and ``sigma_range_255``.
    """

    def __init__(
        self,
        model,
        images: DeviceImages,
        patch_size: int = 48,
        batch_size: int = 32,
        sigma_255: float | None = None,
        sigma_range_255: tuple[float, float] | None = None,
        learning_rate: float = 1e-3,
        steps_per_call: int = 1,
    ):
        import keras

        if keras.backend.backend() != "jax":
            raise ValueError(f"DeviceStep needs KERAS_BACKEND=jax, not {keras.backend.backend()}")
        if (sigma_255 is None) == (sigma_range_255 is None):
            raise ValueError("give exactly one of sigma_255 and sigma_range_255")
        for level in [sigma_255] if sigma_255 is not None else list(sigma_range_255):
            noise.check_sigma(level)
        if min(images.heights.min(), images.widths.min()) < patch_size:
            raise ValueError(f"every training image must be at least {patch_size} px on each side")
        if steps_per_call < 1:
            raise ValueError(f"steps_per_call must be >= 1, got {steps_per_call}")
        self.model, self.images = model, images.as_jax()
        self.patch_size, self.batch_size, self.steps_per_call = int(patch_size), int(batch_size), int(steps_per_call)
        self.sigma_255 = None if sigma_255 is None else float(sigma_255)
        self.sigma_range_255 = None if sigma_range_255 is None else tuple(float(s) for s in sigma_range_255)
        self.optimizer = keras.optimizers.Adam(learning_rate)
        self.optimizer.build(model.trainable_variables)
        self._draw = self._jit(self._draw_batch)
        self._steps = self._jit(self._scan_steps, donate_argnums=0)

    @staticmethod
    def _jit(function, **kwargs):
        import jax

        return jax.jit(function, **kwargs)

    def _draw_batch(self, images, key):
        return draw_batch(key, images, self.patch_size, self.batch_size, self.sigma_255, self.sigma_range_255)

    def draw(self, key) -> dict:
        """``draw_batch`` with this trainer's settings, jitted."""
        return self._draw(self.images, key)

    def initial_state(self) -> tuple:
        """Copies of the model's and the optimizer's current values (a step donates its state's buffers, which
        must not be the variables' own), and step 0."""
        import jax.numpy as jnp

        return (
            [jnp.copy(v.value) for v in self.model.trainable_variables],
            [jnp.copy(v.value) for v in self.model.non_trainable_variables],
            [jnp.copy(v.value) for v in self.optimizer.variables],
            jnp.zeros((), jnp.int32),
        )

    def _loss(self, trainable, non_trainable, noisy, clean):
        import jax.numpy as jnp

        denoised, non_trainable = self.model.stateless_call(trainable, non_trainable, noisy, training=True)
        return jnp.mean(jnp.square(denoised.astype(jnp.float32) - clean)), non_trainable

    def _one_step(self, state, images, key):
        import jax

        trainable, non_trainable, optimizer_variables, step = state
        batch = draw_batch(
            jax.random.fold_in(key, step),
            images,
            self.patch_size,
            self.batch_size,
            self.sigma_255,
            self.sigma_range_255,
        )
        gradient = jax.value_and_grad(self._loss, has_aux=True)
        (loss, non_trainable), grads = gradient(trainable, non_trainable, batch["noisy"], batch["clean"])
        trainable, optimizer_variables = self.optimizer.stateless_apply(optimizer_variables, grads, trainable)
        return (trainable, non_trainable, optimizer_variables, step + 1), loss

    def _scan_steps(self, state, images, key):
        import jax

        return jax.lax.scan(lambda s, _: self._one_step(s, images, key), state, None, length=self.steps_per_call)

    def step(self, state: tuple, key) -> tuple:
        """``steps_per_call`` training steps: ``(new state, losses (steps_per_call,) float32)``; ``state`` is
        consumed (its buffers are donated)."""
        return self._steps(state, self.images, key)

    def train(self, state: tuple, steps: int, seed: int = 0) -> tuple:
        """``steps`` steps (rounded up to whole calls) from ``state``: ``(state, per-step losses as a numpy array)``."""
        import jax

        key = jax.random.key(seed)
        losses = []
        for _ in range(-(-int(steps) // self.steps_per_call)):
            state, loss = self.step(state, key)
            losses.append(loss)
        return state, np.concatenate([np.asarray(loss) for loss in losses])

    def write_back(self, state: tuple) -> None:
        """Assigns ``state``'s values to the model's and the optimizer's variables."""
        trainable, non_trainable, optimizer_variables, _ = state
        for variables, values in (
            (self.model.trainable_variables, trainable),
            (self.model.non_trainable_variables, non_trainable),
            (self.optimizer.variables, optimizer_variables),
        ):
            for variable, value in zip(variables, values):
                variable.assign(value)


def draw_and_step_seconds(trainer: DeviceStep, repeats: int = 10, seed: int = 0) -> dict:
    """What share of a training step drawing its batch costs: the jitted draw alone and the jitted step (which
    draws its own batch inside), each run ``repeats`` times in turn after a warm-up (compilation), medians.

    Returns ``{"draw_seconds", "step_seconds" (per step), "draw_share", "draw_runs", "step_runs"}``.
    """
    import time

    import jax

    key = jax.random.key(seed)
    state = trainer.initial_state()
    jax.block_until_ready(trainer.draw(key))
    # Wait for the whole new state, not the loss alone: the optimizer's update runs after the loss is known.
    state = jax.block_until_ready(trainer.step(state, key))[0]
    draws, steps = [], []
    for index in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(trainer.draw(jax.random.fold_in(key, index)))
        draws.append(time.perf_counter() - start)
        start = time.perf_counter()
        state = jax.block_until_ready(trainer.step(state, key))[0]
        steps.append((time.perf_counter() - start) / trainer.steps_per_call)
    draw, step = float(np.median(draws)), float(np.median(steps))
    return dict(draw_seconds=draw, step_seconds=step, draw_share=draw / step, draw_runs=draws, step_runs=steps)
