"""Training: separate (``separate``: MSE on noisy patches), joint through a frozen head (``joint``,
``cascade``, ``losses``), the heads themselves (``head_training``,
``input_scale``), run records (``runs``, ``curves``) and shipping a run (``ship``)."""
