"""Train a high-level head (VGG16 classifier or DeepLab-LargeFOV) on clean images.

    # CIFAR-10, reduced-width VGG16 pattern:
    python -m train.train_head --task classification --data ../shared/data/cifar10-jpeg \
        --crop_size 32 --width_divisor 4 --model_dir runs/head_cifar
    # CamVid, DeepLab-LargeFOV pattern:
    python -m train.train_head --task segmentation --data ../shared/data/camvid --num_classes 11 \
        --ignore_index 11 --crop_size 160 --width_divisor 4 --eval_split val --model_dir runs/head_camvid
    # Paper scale: --data tfds:imagenet2012 --manual_dir DIR --weights imagenet (or a VGG16 .h5)

Every flag is a field of ``training.head_training.HeadConfig`` (its default and help are written there).
"""

from keras_semdenoise.apps.training_runs import head_main, run

main = head_main()  # the flags are this module's (apps.training_runs: also `semdenoise train head`)

if __name__ == "__main__":
    run(main)
