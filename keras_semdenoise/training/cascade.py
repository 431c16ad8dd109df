"""Joint training: the denoiser cascaded into a frozen high-level head (paper Sec. III-B).

``CascadeTrainer`` is a ``keras.Model`` whose custom ``train_step`` computes L = lambda_D L_D +
lambda_P L_P + lambda_H L_H (``losses.joint_loss_terms``) and updates only the denoiser; the head runs
in inference mode (BN statistics and dropout frozen) and its weights never change. ``fit()`` still gives
callbacks, progress bars and distribution. Two steps, one loss (``loss_terms``):

- TensorFlow: a ``tf.GradientTape`` step; under MirroredStrategy the loss is a mean over the *global*
  batch (each replica's sum divided by the global batch size), and the optimizer sums the replicas'
  gradients.
- JAX: Keras 3's stateless step (``train_step(state, data) -> (logs, state)``, as in the keras-io guide
  "custom_train_step_in_jax"): ``loss_terms`` runs in a ``keras.StatelessScope`` over the state's
  variables, ``jax.value_and_grad`` differentiates it with respect to the denoiser's trainable values,
  ``optimizer.stateless_apply`` updates them, and the denoiser's BN statistics come back as the new
  non-trainable state. One device (no JAX data parallelism here).

``distributed_train_loop`` runs the same step in a plain custom loop, for
``MultiWorkerMirroredStrategy`` where Keras 3 ``fit`` fails (keras-team/keras#20585).

Batches are ``((noisy, clean), labels)``: noisy/clean (N, H, W, 3) float32 (clean in [0, 1]),
labels (N,) class ids or (N, H, W) class maps.
"""

from __future__ import annotations

import keras
from keras import ops

from keras_semdenoise.models.heads.vgg16 import PERCEPTUAL_LAYER
from keras_semdenoise.training import losses

TERMS = ("total", "reconstruction", "perceptual", "task")


class CascadeTrainer(keras.Model):
    """Denoiser -> frozen head, trained with the joint loss. Calling it runs the denoiser alone."""

    def __init__(
        self,
        denoiser: keras.Model,
        head: keras.Model,
        task: str,
        weights: losses.JointLossWeights | None = None,
        ignore_index: int | None = None,
        perceptual_layer: str = PERCEPTUAL_LAYER,
        **kwargs,
    ):
        super().__init__(**kwargs)
        losses.check_ignore_index(task, ignore_index)
        self.denoiser = denoiser
        self.head = head
        self.head.trainable = False
        self.task = task
        self.loss_weights_ = weights or losses.JointLossWeights.paper(task)
        self.ignore_index = ignore_index
        self.head_and_features = keras.Model(
            head.input, [head.output, head.get_layer(perceptual_layer).output], name="head_and_features"
        )
        self.trackers = {name: keras.metrics.Mean(name=f"{name}_loss") for name in TERMS}

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, inputs, training=False):
        """Denoises ``inputs``: a noisy batch, or the ``(noisy, clean)`` pair of a training batch."""
        noisy = inputs[0] if isinstance(inputs, (tuple, list)) else inputs
        return self.denoiser(noisy, training=training)

    def loss_terms(self, noisy, clean, labels, training: bool = False) -> dict:
        """Per-example loss terms (each (N,)) of the cascade on one batch."""
        denoised = self.denoiser(noisy, training=training)
        logits, features_denoised = self.head_and_features(denoised, training=False)
        _, features_clean = self.head_and_features(clean, training=False)
        return losses.joint_loss_terms(
            clean,
            denoised,
            ops.stop_gradient(features_clean),
            features_denoised,
            labels,
            logits,
            self.task,
            self.loss_weights_,
            self.ignore_index,
        )

    def _global_batch_mean(self, per_example):
        import tensorflow as tf

        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        global_batch = ops.cast(ops.shape(per_example)[0] * replicas, per_example.dtype)
        return ops.sum(per_example) / global_batch

    def _update_trackers(self, terms):
        for name, tracker in self.trackers.items():
            tracker.update_state(ops.mean(terms[name]))
        return {tracker.name: tracker.result() for tracker in self.trackers.values()}

    def train_step(self, *args):
        """One optimizer step: ``train_step(data)`` on TensorFlow, ``train_step(state, data)`` on JAX."""
        if keras.backend.backend() == "jax":
            return self._jax_train_step(*args)
        if keras.backend.backend() != "tensorflow":
            raise NotImplementedError(f"joint training runs on TensorFlow or JAX, not {keras.backend.backend()}")
        return self._tf_train_step(*args)

    def _tf_train_step(self, data):
        import tensorflow as tf

        (noisy, clean), labels = data
        with tf.GradientTape() as tape:
            terms = self.loss_terms(noisy, clean, labels, training=True)
            loss = self._global_batch_mean(terms["total"])
        variables = self.denoiser.trainable_variables
        gradients = tape.gradient(loss, variables)
        self.optimizer.apply_gradients(zip(gradients, variables))
        return self._update_trackers(terms)

    def _stateless_terms(self, trainable_values, non_trainable_values, noisy, clean, labels, training: bool):
        """``loss_terms`` over the given variable values; returns the terms and the new non-trainable values."""
        mapping = [
            *zip(self.trainable_variables, trainable_values),
            *zip(self.non_trainable_variables, non_trainable_values),
        ]
        with keras.StatelessScope(state_mapping=mapping) as scope:
            terms = self.loss_terms(noisy, clean, labels, training=training)
        return terms, [scope.get_current_value(v) for v in self.non_trainable_variables]

    def _stateless_trackers(self, metrics_values, terms):
        logs, new_values, start = {}, [], 0
        for name, tracker in self.trackers.items():
            count = len(tracker.variables)
            values = tracker.stateless_update_state(metrics_values[start : start + count], ops.mean(terms[name]))
            logs[tracker.name] = tracker.stateless_result(values)
            new_values.extend(values)
            start += count
        return logs, new_values

    def _jax_train_step(self, state, data):
        import jax

        trainable, non_trainable, optimizer_values, metrics_values = state
        (noisy, clean), labels = data

        def loss(trainable_values):
            terms, new_non_trainable = self._stateless_terms(
                trainable_values, non_trainable, noisy, clean, labels, training=True
            )
            return ops.mean(terms["total"]), (terms, new_non_trainable)

        (_, (terms, non_trainable)), gradients = jax.value_and_grad(loss, has_aux=True)(trainable)
        trainable, optimizer_values = self.optimizer.stateless_apply(optimizer_values, gradients, trainable)
        logs, metrics_values = self._stateless_trackers(metrics_values, terms)
        return logs, (trainable, non_trainable, optimizer_values, metrics_values)

    def test_step(self, *args):
        if keras.backend.backend() == "jax":
            state, data = args
            trainable, non_trainable, metrics_values = state
            (noisy, clean), labels = data
            terms, _ = self._stateless_terms(trainable, non_trainable, noisy, clean, labels, training=False)
            logs, metrics_values = self._stateless_trackers(metrics_values, terms)
            return logs, (trainable, non_trainable, metrics_values)
        (noisy, clean), labels = args[0]
        return self._update_trackers(self.loss_terms(noisy, clean, labels, training=False))


def distributed_train_loop(strategy, trainer: CascadeTrainer, dataset, steps: int, log_every: int = 0, log=print):
    """A custom training loop of ``trainer.train_step`` under any ``tf.distribute`` strategy.

    Works with MultiWorkerMirroredStrategy, where ``fit`` does not. ``trainer`` must have been
    built and compiled (optimizer) inside ``strategy.scope()``. Returns the per-step global mean
    total loss as a list of floats.
    """
    import tensorflow as tf

    distributed = iter(strategy.experimental_distribute_dataset(dataset))

    @tf.function
    def step(batch):
        results = strategy.run(trainer.train_step, args=(batch,))
        return strategy.reduce(tf.distribute.ReduceOp.MEAN, results["total_loss"], axis=None)

    history = []
    for index in range(steps):
        for tracker in trainer.metrics:
            tracker.reset_state()
        history.append(float(step(next(distributed))))
        if log_every and (index + 1) % log_every == 0:
            log(f"step {index + 1}/{steps}: total loss {history[-1]:.5f}")
    return history


def input_gradient_maps(trainer: CascadeTrainer, noisy, clean, labels) -> dict:
    """|dL/d(noisy input)| of each loss term, summed over colour channels (paper Fig. 3).

    Args:
        noisy, clean: (N, H, W, 3) float32; labels as in training.
    Returns:
        ``{term: (N, H, W) float32 array}`` for 'reconstruction', 'perceptual', 'task', 'total'
        (terms unweighted, 'total' with the trainer's lambdas).
    """
    import tensorflow as tf

    noisy = tf.convert_to_tensor(noisy, tf.float32)
    maps = {}
    for term in TERMS[1:] + TERMS[:1]:
        with tf.GradientTape() as tape:
            tape.watch(noisy)
            value = tf.reduce_sum(trainer.loss_terms(noisy, clean, labels, training=False)[term])
        maps[term] = tf.reduce_sum(tf.abs(tape.gradient(value, noisy)), axis=-1).numpy()
    return maps
