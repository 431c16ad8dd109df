"""Entry points: the Keras backend is imported here first, without TensorFlow's start-up lines
(``keras_semdenoise.quiet``; ``SEMDENOISE_VERBOSE=1`` shows them)."""

from keras_semdenoise import quiet

quiet.import_backend()
