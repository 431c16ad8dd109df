"""Separate training of the denoiser (MSE, Gaussian noise on the fly), resumable.

Example (paper setting, sigma 25, CBSD432; bf16 where the CPU/GPU has it):
    python -m train.train_denoiser --sigma 25 --steps 20000 --model_dir runs/sigma25

Any Keras backend (the numpy data path is used where TensorFlow is not the backend):
    KERAS_BACKEND=jax python -m train.train_denoiser --data_dir packed:CBSD432.npz ...

Kill it at any time and run the same command again: it resumes from the last checkpoint.
Every flag is a field of ``training.separate.TrainConfig`` (its default and help are written there).
"""

from keras_semdenoise.apps.training_runs import denoiser_main, run

main = denoiser_main()  # the flags are this module's (apps.training_runs: also `semdenoise train denoiser`)

if __name__ == "__main__":
    run(main)
