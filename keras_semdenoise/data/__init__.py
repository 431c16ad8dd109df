"""Data pipelines: image folders -> tf.data, and a tfds builder for such folders."""
