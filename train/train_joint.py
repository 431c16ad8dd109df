"""Joint training: the denoiser through a frozen head, L = L_D + lambda_P L_P + lambda_H L_H.

    python -m train.train_joint --task classification --data ../shared/data/cifar10-jpeg \
        --head runs/head_cifar/head.keras --denoiser_init saved_models/denoiser_sigma25.keras \
        --sigma 25 --crop_size 32 --train_split 'train[:-5000]' --val_split 'train[-5000:]' \
        --model_dir runs/joint_cls_s25
    # CamVid: --val_split val. Each checkpoint is validated (history.json) and the best one is shipped.
    # Paper scale: --data tfds:imagenet2012 --manual_dir DIR --head vgg16_imagenet.keras
    #   --crop_size 224 --batch_size 10 --learning_rate 1e-5 --steps 180000 (cls);
    #   --task segmentation --data VOCdevkit/VOC2012 --crop_size 321 --batch_size 6 (seg)

Every flag is a field of ``joint.JointConfig`` (its default and help are written there).
"""

from keras_semdenoise.apps.training_runs import joint_main, run

main = joint_main()  # the flags are this module's (apps.training_runs: also `semdenoise train joint`)

if __name__ == "__main__":
    run(main)
