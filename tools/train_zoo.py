"""Trains the model zoo as a resumable queue of ``train.train_denoiser`` runs, one after another.

    python -m tools.train_zoo --queue cpu --work runs/zoo          # the CPU queue (bf16 where native)
    python -m tools.train_zoo --queue cpu --work runs/zoo --list   # what is done, what is next

Each stage is one run folder under ``--work``; a stage whose ``final.weights.h5`` exists is done and
skipped, an interrupted one resumes from its last checkpoint (kill it at any time, run the same
command again). Stages that start from another stage's model wait for it (``init`` names the stage, or
a shipped model ``saved_models/<name>.keras``). Logs: ``<work>/<stage>/train.log``. Shipping is a
separate, deliberate step (``tools/ship_model.py``) once a run's validation curve beats the shipped model.

Queues (``QUEUES``) are the one place where the zoo's recipes are written down.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time

from absl import app, flags

from keras_semdenoise.data.roots import default_data_root
from keras_semdenoise.training import runs, separate


@dataclasses.dataclass(frozen=True)
class Stage:
    """One training run: its name, where it starts from, and its ``train.train_denoiser`` flags."""

    name: str
    flags: tuple[str, ...]
    init: str | None = None  # another stage's name or a shipped model name (saved_models/<init>.keras)


def _sigma_flags(sigma):
    return ("--sigma_range=0,75",) if sigma == "blind" else (f"--sigma={sigma}",)


_GPU = ("--batch_size=64", "--patch_size=96", "--checkpoint_every=2000", "--warmup_steps=500", "--seed=7")
_TINY = (
    "--batch_size=2",
    "--patch_size=16",
    "--checkpoint_every=1",
    "--warmup_steps=0",
    "--eval_images=2",
    "--stem_filters=8",
    "--encoder_filters=8,8",
    "--decoder_filters=16",
    "--dtype_policy=float32",
    "--seed=0",
)


def _slot_stages(tag: str, seed: int, data_workers: int = 3) -> tuple[Stage, ...]:
    """One GPU slot: every shipped model fine-tuned from itself (batch 64 of 96x96, peak lr 1e-4), meant to run
    at once (--parallel), sized to the slot (--seconds, or --steps in --extra_flags); the blind model is
    weighted and evaluated at 15/25/50 as its CPU stages were (gpu1 and gpu2 ran before the weighting was added
    here: their blind stages trained on plain MSE). ``data_workers`` threads draw each process's batches: with
    one (gpu1, gpu2) a batch of 64 x 96x96 (26 ms on one Zen 4 core: tools.data_rate) is drawn between
    steps, not beside them; five processes of three threads fit the lent machine's 16 cores."""
    levels = (("sigma15", 15), ("sigma25", 25), ("sigma35", 35), ("sigma50", 50), ("blind", "blind"))
    return tuple(
        Stage(
            f"{name}_{tag}",
            (
                *_sigma_flags(sigma),
                "--batch_size=64",
                "--patch_size=96",
                "--steps=100000",
                "--learning_rate=1e-4",
                "--warmup_steps=200",
                f"--seed={seed}",
                f"--data_workers={data_workers}",
                *(("--sigma_weighting=inverse", "--eval_sigmas=15,25,50") if sigma == "blind" else ()),
            ),
            init=f"denoiser_{name}",
        )
        for name, sigma in levels
    )


_ROOT = default_data_root()
_DATA = {
    "CBSD432": os.path.join(_ROOT, "CBSD432"),
    # Sampling weights in proportion to the image counts (416 : 91 : 80).
    "CBSD432+extra": ",".join(
        [
            f"{os.path.join(_ROOT, 'CBSD432')}:0.71",
            f"{os.path.join(_ROOT, 'extra_train', 'T91')}:0.15",
            f"{os.path.join(_ROOT, 'extra_train', 'SunHays80')}:0.14",
        ]
    ),
}
_DATA_CMP = ("--steps=1000", "--learning_rate=3e-4", "--checkpoint_every=500", "--seed=4")

# The learned peers of Tables II/III (issue: "trained with the same data and budget as our sigma-25 model"):
# 13,000 steps of batch 32 x 48x48 CBSD432 patches at sigma 25 (ours: 10,000 from scratch + 3,000 continued),
# Adam 1e-3 with cosine decay, bf16 where native. The same stages in the CPU and the GPU queue.
_PEERS = tuple(
    Stage(
        f"{arch}25",
        (
            *_sigma_flags(25),
            f"--architecture={arch}",
            "--steps=13000",
            "--batch_size=32",
            "--patch_size=48",
            "--learning_rate=1e-3",
            "--checkpoint_every=500",
            "--seed=8",
        ),
    )
    for arch in ("ffdnet", "dncnn")
)

# The CPU queue (2-core AVX512_BF16 EPYC): first the bf16-vs-fp32 measurement (two runs that differ only
# in precision), then fine-tuning from the shipped sigma-25 model: a sigma-35 model (none shipped yet) and a
# longer sigma-25 continuation.
QUEUES = {
    "cpu": (
        Stage(
            "cmp_fp32_s35",
            (
                *_sigma_flags(35),
                "--steps=600",
                "--dtype_policy=float32",
                "--learning_rate=5e-4",
                "--checkpoint_every=200",
                "--seed=1",
            ),
            init="denoiser_sigma25",
        ),
        Stage(
            "cmp_bf16_s35",
            (
                *_sigma_flags(35),
                "--steps=600",
                "--dtype_policy=mixed_bfloat16",
                "--learning_rate=5e-4",
                "--checkpoint_every=200",
                "--seed=1",
            ),
            init="denoiser_sigma25",
        ),
        Stage(
            "sigma35",
            (*_sigma_flags(35), "--steps=3000", "--learning_rate=5e-4", "--checkpoint_every=500", "--seed=2"),
            init="denoiser_sigma25",
        ),
        # Do the extra training images (T91, Sun-Hays 80) help? Two runs that differ only in their data.
        Stage(
            "cmp_data_cbsd432",
            (*_sigma_flags(25), *_DATA_CMP, f"--data_dir={_DATA['CBSD432']}"),
            init="denoiser_sigma25",
        ),
        Stage(
            "cmp_data_extra",
            (*_sigma_flags(25), *_DATA_CMP, f"--data_dir={_DATA['CBSD432+extra']}"),
            init="denoiser_sigma25",
        ),
        Stage(
            "sigma25_cont",
            (
                *_sigma_flags(25),
                "--steps=3000",
                "--learning_rate=3e-4",
                "--checkpoint_every=500",
                "--warmup_steps=200",
                "--seed=3",
            ),
            init="denoiser_sigma25",
        ),
        # The blind model over [0, 75] (shipped 2026-12-01), then 15 and 50 again from the continued
        # sigma-25 model, which is shipped as denoiser_sigma25 (so they start on a fresh machine too).
        Stage(
            "blind75",
            (
                *_sigma_flags("blind"),
                "--steps=2000",
                "--learning_rate=3e-4",
                "--checkpoint_every=500",
                "--eval_sigma=25",
                "--seed=5",
            ),
            init="denoiser_blind",
        ),
        *(
            Stage(
                f"sigma{s}_cont",
                (*_sigma_flags(s), "--steps=3000", "--learning_rate=2e-4", "--checkpoint_every=500", "--seed=6"),
                init="denoiser_sigma25",
            )
            for s in (15, 50)
        ),
        *_PEERS,
        # Next, after the peers (2026-12-02): the blind model is the farthest from its aim (0.5 dB below the
        # sigma-15 model at sigma 15 on CBSD68; the issue wants 0.2), then a long sigma-25 continuation
        # (+0.07 dB validation per 3,000 steps last time). Each is a few hours here, resumable.
        # Checkpoints chosen on the mean over sigma 15, 25 and 50 (the levels the issue compares it at); each
        # level's PSNR is in its history too (eval_psnr_s25 compares with the shipped blind model's 31.34).
        Stage(
            "blind75_long",
            (
                *_sigma_flags("blind"),
                "--steps=10000",
                "--learning_rate=2e-4",
                "--checkpoint_every=1000",
                "--warmup_steps=200",
                "--eval_sigmas=15,25,50",
                "--seed=10",
            ),
            init="denoiser_blind",
        ),
        Stage(
            "sigma25_long",
            (
                *_sigma_flags(25),
                "--steps=20000",
                "--learning_rate=2e-4",
                "--checkpoint_every=1000",
                "--warmup_steps=200",
                "--seed=9",
            ),
            init="denoiser_sigma25",
        ),
        # Sized to one session (2026-12-02, fourth): run folders did not survive into this session, so the
        # 10,000-step blind75_long restarted from nothing; a stage that ends within a session is shipped (if its
        # validation beats the shipped model) before the session stops, and the next stage starts from that.
        Stage(
            "blind75_s4",
            (
                *_sigma_flags("blind"),
                "--steps=7000",
                "--learning_rate=2e-4",
                "--checkpoint_every=1000",
                "--warmup_steps=200",
                "--eval_sigmas=15,25,50",
                "--seed=11",
            ),
            init="denoiser_blind",
        ),
        Stage(
            "sigma25_s4",
            (
                *_sigma_flags(25),
                "--steps=5000",
                "--learning_rate=2e-4",
                "--checkpoint_every=1000",
                "--warmup_steps=200",
                "--seed=12",
            ),
            init="denoiser_sigma25",
        ),
        # 2026-12-02, fifth: the CPU's first claim is the full-scale reproduction's loss-scale runs (issue 15, which
        # must end within the session), so this one runs at the lowest priority (nice 19) on the cycles left over.
        Stage(
            "blind75_s5",
            (
                *_sigma_flags("blind"),
                "--steps=4000",
                "--learning_rate=1.5e-4",
                "--checkpoint_every=500",
                "--warmup_steps=200",
                "--eval_sigmas=15,25,50",
                "--seed=13",
            ),
            init="denoiser_blind",
        ),
        # The same run but for the loss: each patch weighted by 1 / (sigma + 5) (noise.sigma_loss_weights), aimed
        # at the blind model's lag at sigma 15; the same seed, so the two runs see the same patches and noise,
        # and their per-level validation at equal steps is a paired comparison.
        Stage(
            "blind75_s5w",
            (
                *_sigma_flags("blind"),
                "--sigma_weighting=inverse",
                "--steps=4000",
                "--learning_rate=1.5e-4",
                "--checkpoint_every=500",
                "--warmup_steps=200",
                "--eval_sigmas=15,25,50",
                "--seed=13",
            ),
            init="denoiser_blind",
        ),
        # 2026-12-02, sixth: blind75_s5w's step 3,000 was shipped (its run folder was rebuilt from the committed
        # candidate, curve and config); it goes on from there as a new stage (a fresh optimizer and schedule).
        Stage(
            "blind75_s6w",
            (
                *_sigma_flags("blind"),
                "--sigma_weighting=inverse",
                "--steps=3000",
                "--learning_rate=1e-4",
                "--checkpoint_every=500",
                "--warmup_steps=200",
                "--eval_sigmas=15,25,50",
                "--seed=14",
            ),
            init="denoiser_blind",
        ),
        # 2026-12-03: the sigma-35 model has had the fewest steps at its own level (3,000 of its 13,000; issue 12's
        # gap there is 0.40 / 0.57 dB on CBSD68 / Kodak24), so it is the one continued first.
        Stage(
            "sigma35_s7",
            (
                *_sigma_flags(35),
                "--steps=4000",
                "--learning_rate=2e-4",
                "--checkpoint_every=1000",
                "--warmup_steps=200",
                "--seed=15",
            ),
            init="denoiser_sigma35",
        ),
        # 2026-12-03, eighth: sigma35_s7 shipped (validation 29.90 -> 29.96); the sigma-25 model, the issue's
        # headline (CBSD68 0.31 dB short), goes on at a lower peak (its last restart at 2e-4 dipped 0.09 dB).
        Stage(
            "sigma25_s8",
            (
                *_sigma_flags(25),
                "--steps=4000",
                "--learning_rate=1.5e-4",
                "--checkpoint_every=1000",
                "--warmup_steps=200",
                "--seed=16",
            ),
            init="denoiser_sigma25",
        ),
        # Then the sigma-50 model (CBSD68 0.43 dB short of the paper, Kodak24 0.06 dB below CBM3D), the same way.
        Stage(
            "sigma50_s9",
            (
                *_sigma_flags(50),
                "--steps=4000",
                "--learning_rate=1.5e-4",
                "--checkpoint_every=1000",
                "--warmup_steps=200",
                "--seed=17",
            ),
            init="denoiser_sigma50",
        ),
        # 2026-12-03, ninth: sigma50_s9 shipped (validation 28.16 -> 28.23); next the sigma-15 model, the one
        # furthest below CBM3D on Kodak24 (0.07 dB), the same way.
        Stage(
            "sigma15_s10",
            (
                *_sigma_flags(15),
                "--steps=4000",
                "--learning_rate=1.5e-4",
                "--checkpoint_every=1000",
                "--warmup_steps=200",
                "--seed=18",
            ),
            init="denoiser_sigma15",
        ),
        # 2026-12-03, tenth: sigma15_s10 finished (validation 34.33 -> 34.35, a candidate); next the sigma-35
        # model, the one with the fewest steps (17,000), the same way.
        Stage(
            "sigma35_s11",
            (
                *_sigma_flags(35),
                "--steps=4000",
                "--learning_rate=1.5e-4",
                "--checkpoint_every=1000",
                "--warmup_steps=200",
                "--seed=19",
            ),
            init="denoiser_sigma35",
        ),
        # 2026-12-03, eleventh: sigma15_s10 shipped; sigma35_s11 dipped (29.96 -> 29.92) and rose to 29.99 at step
        # 3,000. Next the sigma-15 model again, still 0.05 dB under CBM3D on Kodak24, at a lower peak rate (1e-4)
        # to shrink the dip every restart has cost.
        Stage(
            "sigma15_s12",
            (
                *_sigma_flags(15),
                "--steps=4000",
                "--learning_rate=1e-4",
                "--checkpoint_every=1000",
                "--warmup_steps=200",
                "--seed=20",
            ),
            init="denoiser_sigma15",
        ),
        # 2026-12-03, twelfth: sigma15_s12 rose 34.35 -> 34.37 (dip only 0.06 dB at 1e-4). Next sigma 25, the
        # furthest from the paper (CBSD68 31.05 vs 31.32), at the same lower rate.
        Stage(
            "sigma25_s13",
            (
                *_sigma_flags(25),
                "--steps=4000",
                "--learning_rate=1e-4",
                "--checkpoint_every=1000",
                "--warmup_steps=200",
                "--seed=21",
            ),
            init="denoiser_sigma25",
        ),
        # 2026-12-03, twelfth: with sigma15_s12 shipped the blind model's Kodak24 gap at sigma 15 is 0.21 dB (the
        # issue asks for 0.2), so the blind model goes on, weighted toward low sigma as before.
        Stage(
            "blind75_s14w",
            (
                *_sigma_flags("blind"),
                "--sigma_weighting=inverse",
                "--steps=3000",
                "--learning_rate=1e-4",
                "--checkpoint_every=500",
                "--warmup_steps=200",
                "--eval_sigmas=15,25,50",
                "--seed=22",
            ),
            init="denoiser_blind",
        ),
        # 2026-12-04: the sigma-50 model gained the most per stage (+0.06 dB over 4,000 steps last time) and is
        # 0.01 dB over CBM3D on Kodak24 (the issue wants 0.3). This stage also tries larger patches at the same
        # pixels per step (batch 8 x 96x96 = 32 x 48x48): more context per patch for the 768x512 Kodak images.
        Stage(
            "sigma50_s15p96",
            (
                *_sigma_flags(50),
                "--steps=3000",
                "--batch_size=8",
                "--patch_size=96",
                "--learning_rate=1e-4",
                "--checkpoint_every=500",
                "--warmup_steps=200",
                "--seed=23",
            ),
            init="denoiser_sigma50",
        ),
        # 2026-12-04: sigma50_s15p96 ended about where it began (validation 28.227 -> 28.159 at step 500 -> 28.237 at
        # step 3,000), no sign that larger patches help at equal pixels. Next the sigma-15 model, the one under CBM3D
        # on Kodak24 (by 0.03 dB), in one longer stage (a CPU alone runs a step in about 0.45 s): fewer restarts, fewer
        # dips.
        Stage(
            "sigma15_s16",
            (
                *_sigma_flags(15),
                "--steps=8000",
                "--learning_rate=1e-4",
                "--checkpoint_every=1000",
                "--warmup_steps=200",
                "--seed=24",
            ),
            init="denoiser_sigma15",
        ),
        # 2026-12-04: sigma15_s16 shipped (validation 34.367 -> 34.398, +0.031: twice the last 4,000-step stage). Next
        # (not started): the blind model, 0.21 dB under the new sigma-15 model on Kodak24, or sigma 35, each as one
        # 8,000-step stage.
        # 2026-12-04, second: the blind model first (its Kodak24 gap at sigma 15 is the one "within 0.2 dB" miss),
        # weighted toward low sigma as in blind75_s14w, in one 8,000-step stage.
        Stage(
            "blind75_s17w",
            (
                *_sigma_flags("blind"),
                "--sigma_weighting=inverse",
                "--steps=8000",
                "--learning_rate=1e-4",
                "--checkpoint_every=1000",
                "--warmup_steps=200",
                "--eval_sigmas=15,25,50",
                "--seed=25",
            ),
            init="denoiser_blind",
        ),
        # 2026-12-04, second: blind75_s17w shipped (validation 31.312 -> 31.335 at step 8,000, after the usual dip to
        # 31.16). Next sigma 35, the per-sigma curve that still rose fastest (0.12 dB per doubling), for what is left
        # of the session (4,000 steps, beside the blind model's pages at first).
        Stage(
            "sigma35_s18",
            (
                *_sigma_flags(35),
                "--steps=4000",
                "--learning_rate=1e-4",
                "--checkpoint_every=1000",
                "--warmup_steps=200",
                "--seed=26",
            ),
            init="denoiser_sigma35",
        ),
        # 2026-12-04, second: sigma35_s18 shipped (validation 29.994 -> 29.986 -> 29.984 -> 30.007 -> 30.012: +0.017,
        # 0.07 dB per doubling from 21,000 to 25,000 steps). Next (not started): sigma 25, the furthest from the paper
        # (CBSD68 0.27 dB short), or sigma 50, each as one 8,000-step stage with the CPU to itself.
        # 2026-12-04, third: the GPU slots (gpu_slot, gpu_slot2 below) fine-tuned all five; their blind stages left
        # out the inverse sigma weighting of the CPU blind stages, and the blind model gained less at sigma 15 than
        # the sigma-15 model did (Kodak24 gap 0.191 -> 0.208 dB, over the 0.2). Back to the weighted loss
        # from the GPU-tuned model, 3,000 steps beside the pages (a 6,000-step start was stopped before its first
        # checkpoint: it would not have ended inside the session). Stopped at step 1,000: validation 31.412 -> 31.245
        # (sigma 15 34.252 -> 34.056), the deepest first dip of any stage; small CPU batches after the GPU's large
        # ones undo them first (curve: docs/training/blind75_s19w.history.json). Not shipped; the next blind
        # stage belongs in a GPU slot, weighted.
        Stage(
            "blind75_s19w",
            (
                *_sigma_flags("blind"),
                "--sigma_weighting=inverse",
                "--steps=3000",
                "--learning_rate=1e-4",
                "--checkpoint_every=1000",
                "--warmup_steps=200",
                "--eval_sigmas=15,25,50",
                "--seed=30",
            ),
            init="denoiser_blind",
        ),
        # Was the dip the batch's patch size? The GPU models saw 96x96 patches, and BN's moving statistics follow
        # the patches trained on. The same stage at the GPU's patch size and the CPU's pixels per step (batch 8 of
        # 96x96 = 32 of 48x48), 3,000 steps.
        Stage(
            "blind75_s20p96w",
            (
                *_sigma_flags("blind"),
                "--sigma_weighting=inverse",
                "--batch_size=8",
                "--patch_size=96",
                "--steps=3000",
                "--learning_rate=1e-4",
                "--checkpoint_every=750",
                "--warmup_steps=200",
                "--eval_sigmas=15,25,50",
                "--seed=31",
            ),
            init="denoiser_blind",
        ),
        # Stopped at step 750: validation 31.412 -> 31.171 (sigma 15 34.252 -> 33.857), deeper than blind75_s19w's
        # -0.17 at step 1,000. Not the patch size, then: fewer, smaller-batch steps (8 patches per BN batch here)
        # undo the GPU's batches of 64 more. The GPU models continue on a GPU (docs/training/blind75_s20p96w...).
        # And at the GPU's own batch (64 of 96x96, about 8 times a CPU step's time): does the dip go? A short probe
        # of it on the sigma-25 model, 400 steps, checkpoints every 200.
        Stage(
            "sigma25_s21b64",
            (
                *_sigma_flags(25),
                "--batch_size=64",
                "--patch_size=96",
                "--steps=400",
                "--learning_rate=1e-4",
                "--checkpoint_every=200",
                "--warmup_steps=50",
                "--seed=32",
            ),
            init="denoiser_sigma25",
        ),
        # Done: validation 31.730 -> 31.716 (step 200) -> 31.727 (step 400), 3.35 s a step (666-687 s per 200). A dip
        # of 0.014, the GPU slots' size, not the small batches' 0.17-0.40: the batch drives the dips. Not shipped
        # (below its start); CPU continuation at this batch is possible but slow (about 1,070 steps an hour).
        # 2026-12-04, fourth session (no GPU lent): the blind model is the one a CPU run can move to the issue's
        # numbers (Kodak24 sigma-15 gap 0.208 dB against 0.2), at the GPU's batch and the weighted loss of
        # gpu_slot3's blind stage, 1,600 steps (about 1.5 hours), checkpoints every 200.
        Stage(
            "blind75_s22b64w",
            (
                *_sigma_flags("blind"),
                "--sigma_weighting=inverse",
                "--batch_size=64",
                "--patch_size=96",
                "--steps=1600",
                "--learning_rate=1e-4",
                "--checkpoint_every=200",
                "--warmup_steps=100",
                "--eval_sigmas=15,25,50",
                "--seed=33",
            ),
            init="denoiser_blind",
        ),
        # Step 400 of it dipped 0.14 dB (sigma 15 -0.26), at the GPU's batch, as deep as the small-batch blind
        # stages: every deep dip so far was a weighted blind stage started from the unweighted GPU blind model,
        # so the weighting switch, not the batch, may drive them. blind75_s19w again without the weighting (same
        # seed, schedule and batch), stopped after its checkpoint at step 1,000 (s19w: -0.17 there).
        Stage(
            "blind75_s23",
            (
                *_sigma_flags("blind"),
                "--steps=3000",
                "--learning_rate=1e-4",
                "--checkpoint_every=500",
                "--warmup_steps=200",
                "--eval_sigmas=15,25,50",
                "--seed=30",
            ),
            init="denoiser_blind",
        ),
        # It dipped too (-0.13 at step 500): not the weighting. What the GPU blind stages (no dip) had and these
        # did not is the numpy data path (each patch from its own image; tf.data takes 8 crops per image visit):
        # blind75_s23 on the numpy path (TF backend), same seed and schedule.
        Stage(
            "blind75_s24np",
            (
                *_sigma_flags("blind"),
                "--pipeline=numpy",
                "--steps=3000",
                "--learning_rate=1e-4",
                "--checkpoint_every=500",
                "--warmup_steps=200",
                "--eval_sigmas=15,25,50",
                "--seed=30",
            ),
            init="denoiser_blind",
        ),
        # It dipped as deep (-0.14 at step 500): not the data path either. Left: the backend (the GPU stages ran
        # on JAX, every CPU stage on TensorFlow). blind75_s23 under KERAS_BACKEND=jax on this CPU (run as
        # `KERAS_BACKEND=jax python -m tools.train_zoo --queue cpu --only blind75_s25jax`).
        Stage(
            "blind75_s25jax",
            (
                *_sigma_flags("blind"),
                "--steps=3000",
                "--learning_rate=1e-4",
                "--checkpoint_every=500",
                "--warmup_steps=200",
                "--eval_sigmas=15,25,50",
                "--seed=30",
            ),
            init="denoiser_blind",
        ),
        # Too slow to tell (no checkpoint at step 500 within 30 minutes); the backend question waits for a GPU slot.
        # 2026-12-04, fifth session (no GPU lent, and this CPU has AVX2 but no AVX-512, so no native bf16: "auto"
        # runs float32). The sigma-50 model (the per-sigma curve furthest from flat, 0.08 dB per doubling; 0.13 dB
        # over CBM3D on Kodak24, the issue wants 0.3) at the GPU's batch ran 13 s a step here (64 of 96x96: 4 times
        # the bf16 CPU's 3.35 s) and was stopped at step 10. At the CPU's batch instead (32 of 48x48), 3,000 steps,
        # which also answers whether a per-sigma model dips like the blind one when small batches follow the GPU's.
        Stage(
            "sigma50_s26",
            (
                *_sigma_flags(50),
                "--steps=3000",
                "--learning_rate=1e-4",
                "--checkpoint_every=500",
                "--warmup_steps=200",
                "--seed=34",
            ),
            init="denoiser_sigma50",
        ),
        # Stopped at step 500: validation 28.357 -> 28.225 (-0.133, docs/training/sigma50_s26.history.json): a
        # per-sigma model dips like the blind ones, and in float32 (so not bf16). Every deep dip so far had small
        # batches or the blind model's noisier loss at a peak lr of 1e-4, the lr the GPU's 8-times-larger batches
        # were tuned to: the gradient noise of a small batch at that lr walks a converged model off its optimum until
        # the cosine decay brings it back. The same stage at a quarter of the lr (2.5e-5; linear scaling with the
        # pixels per step would say 1.25e-5) tests that: no dip, and a gain from the first checkpoint, if so.
        Stage(
            "sigma50_s27lr",
            (
                *_sigma_flags(50),
                "--steps=3000",
                "--learning_rate=2.5e-5",
                "--checkpoint_every=500",
                "--warmup_steps=200",
                "--seed=34",
            ),
            init="denoiser_sigma50",
        ),
        # Stopped at step 1,000: 28.357 -> 28.289 -> 28.316 (docs/training/sigma50_s27lr.history.json): half the dip
        # at a quarter of the lr, so not the lr alone. The batch norm statistics: re-estimating the shipped model's
        # moving statistics on training patches, no weight changed (/tmp probe, cumulative mean over 300 batches of
        # sigma-50 patches), gives 28.167 for 32 x 48x48 (-0.190) and 28.315 for 8 x 96x96 (-0.042). Small patches'
        # statistics are not whole images' (the borders weigh more at the coarse scales), and a stage at 48x48 first
        # moves the model to them. So: the same stage with every batch norm frozen in inference mode
        # (--frozen_batch_norm), peak lr 5e-5, 1,500 steps.
        Stage(
            "sigma50_s28fbn",
            (
                *_sigma_flags(50),
                "--frozen_batch_norm",
                "--steps=1500",
                "--learning_rate=5e-5",
                "--checkpoint_every=250",
                "--warmup_steps=100",
                "--seed=34",
            ),
            init="denoiser_sigma50",
        ),
        # Shipped: 28.357 -> 28.347 -> 28.324 -> 28.355 -> 28.350 -> 28.371 -> 28.372 (steps 0-1,500, 34 min). A dip
        # still (-0.033 at step 500: the lr's share, on small batches), a quarter of the unfrozen stage's, and the
        # first CPU stage after a GPU one to end above its start. Next CPU stages: frozen batch norm, lower peak lr.
        # And the blind model, whose CPU stages dipped 0.13-0.17 dB at every batch tried: the same recipe, weighted as
        # its last stage, 800 steps (what is left of the session; a probe, shipped only if above 31.421).
        Stage(
            "blind75_s29fbn",
            (
                *_sigma_flags("blind"),
                "--sigma_weighting=inverse",
                "--frozen_batch_norm",
                "--steps=800",
                "--learning_rate=5e-5",
                "--checkpoint_every=400",
                "--warmup_steps=100",
                "--eval_sigmas=15,25,50",
                "--seed=35",
            ),
            init="denoiser_blind",
        ),
        # Shipped: 31.427 (step 0, float32 here) -> 31.435 -> 31.450 (sigma 15 34.300 -> 34.331, 25 31.661 -> 31.694,
        # 50 28.319 -> 28.325): no dip at all, the first blind CPU stage without one (-0.13 to -0.17 before).
    ),
    # One GPU slot (2026-12-04, the first session lent the H200): every shipped model fine-tuned at once, one
    # process each (the numpy batches come from one CPU core per process, the H200 has room for five), each
    # stage sized to end inside the slot (--seconds: a probe measures each one's steps per second first).
    "gpu_slot": _slot_stages("gpu1", seed=28, data_workers=1),
    # 2026-12-04, second: the five gpu1 models shipped (validation +0.04 to +0.10 dB, no dip); what the session's
    # device time had left (about 6 minutes) went to one more round from them, sized by hand from the speed the
    # first slot measured (17-18.6 steps/s each): --extra_flags=--steps=1800,--checkpoint_every=450,
    # --warmup_steps=100 without --seconds.
    "gpu_slot2": _slot_stages("gpu2", seed=29, data_workers=1),
    # The next slot (not run yet): the same from the gpu2 models, the blind stage weighted again, new batches
    # (WORK=runs/gpu3 ... slot gpu_slot3 525 --parallel --seconds=480 as the session's first call; the probe costs
    # about 110 s). Five at once left the H200 at 45-70% busy, each process at about 55 ms a step; a batch takes
    # 26 ms to draw on one core, and with one worker Keras draws it between steps: three threads each now
    # (measure: steps/s in the probe against gpu1's 17-18.6).
    "gpu_slot3": _slot_stages("gpu3", seed=30),
    # A second call of the same session, after the gpu3 models are shipped here (sized by hand, as gpu_slot2).
    "gpu_slot4": _slot_stages("gpu4", seed=31),
    # The long GPU queue (JAX, bf16, one H200; written before any slot, not run yet): one long sigma-25 run at a
    # GPU-sized batch from the shipped model, then the other sigmas and the blind model fine-tuned from it. For a
    # machine lent for hours: a 15-minute slot (one run of about 540 s) would end it mid-schedule, at a high
    # learning rate; the slot queues above fit the slot instead.
    "gpu": (
        Stage("sigma25", (*_sigma_flags(25), *_GPU, "--steps=200000", "--learning_rate=5e-4"), init="denoiser_sigma25"),
        *(
            Stage(f"sigma{s}", (*_sigma_flags(s), *_GPU, "--steps=40000", "--learning_rate=2e-4"), init="sigma25")
            for s in (35, 50, 15)
        ),
        Stage("blind", (*_sigma_flags("blind"), *_GPU, "--steps=60000", "--learning_rate=2e-4"), init="sigma25"),
        *_PEERS,
    ),
    # Tiny queues that exercise the whole path (tests, and a first check on a new machine): one after another
    # (b starts from a), and at once (--parallel, as gpu_slot).
    "smoke": (
        Stage("a", (*_sigma_flags(25), *_TINY, "--steps=2")),
        Stage("b", (*_sigma_flags("blind"), *_TINY, "--steps=2"), init="a"),
    ),
    "smoke_parallel": (
        Stage("p", (*_sigma_flags(25), *_TINY, "--steps=4")),
        Stage("q", (*_sigma_flags(50), *_TINY, "--steps=4")),
    ),
}

PROBE_EPOCHS, PROBE_STEPS = 3, 50  # the probe: 3 checkpoints of 50 steps; the first (compilation) is not timed
CHECKPOINTS_PER_SIZED_RUN = 4
RESERVE_SECONDS = 150.0

FLAGS = flags.FLAGS
flags.DEFINE_enum("queue", "cpu", sorted(QUEUES), "Which queue of stages to run.")
flags.DEFINE_string("work", "runs/zoo", "Folder of the stages' run folders.")
flags.DEFINE_string("models_dir", "saved_models", "Where shipped models named by a stage's init are.")
flags.DEFINE_list("only", None, "Run only these stages (names), in queue order.")
flags.DEFINE_multi_string(
    "extra_flags",
    [],
    "Flags added to every stage, comma-separated (e.g. "
    "--data_dir=packed:data/CBSD432.npz); may be repeated: all are added, in order, and a later "
    "value of the same flag wins (tools/gpu_train.sh passes --data_dir first).",
)
flags.DEFINE_boolean("list", False, "Print each stage's state and exit.")
flags.DEFINE_boolean(
    "parallel", False, "Run the stages at the same time, one process each (none may start from another of them)."
)
flags.DEFINE_float(
    "seconds",
    0.0,
    "Size each stage to end within this many seconds from now (0: the stage's own "
    "--steps): a short probe of each measures its steps per second, then --steps, --checkpoint_every "
    "and --warmup_steps are set from it (the stage's --steps stays the most).",
)
flags.DEFINE_float(
    "reserve_seconds",
    RESERVE_SECONDS,
    "With --seconds: the seconds of a sized run not spent on "
    "training steps (start, compilation, evaluations, final save).",
)


def extra_flag_list(values) -> tuple[str, ...]:
    """The flags of every --extra_flags given, in order: each value is a comma-separated list."""
    return tuple(flag for value in values for flag in value.split(",") if flag)


def stage_dir(work: str, stage: Stage) -> str:
    return os.path.join(work, stage.name)


def is_done(work: str, stage: Stage) -> bool:
    return os.path.exists(os.path.join(stage_dir(work, stage), "final.weights.h5"))


def progress(work: str, stage: Stage) -> str:
    """Where a stage's run is, from its ``history.json``: ``step 7,000 of 13,000, best 30.02 dB at step 6,500``
    ('' before its first checkpoint). The total is the run's own (its ``config.json``: a sized run's), else the
    stage's."""
    history = runs.load_history(stage_dir(work, stage))
    if not history:
        return ""
    config_path = os.path.join(stage_dir(work, stage), "config.json")
    total = stage_int(stage, "steps")
    if os.path.exists(config_path):
        with open(config_path) as handle:
            total = json.load(handle).get("steps", total)
    text = f"step {history[-1]['step']:,}" + (f" of {total:,}" if total else "")
    best = runs.best_record(history, "eval_psnr")
    if best is not None:
        text += f", best {best['eval_psnr']:.2f} dB at step {best['step']:,}"
    return text


def init_path(work: str, models_dir: str, stage: Stage) -> str | None:
    """The weights a stage starts from: another stage's best weights or a shipped ``.keras`` model."""
    if stage.init is None:
        return None
    run = os.path.join(work, stage.init)
    if os.path.isdir(run):
        return os.path.join(run, "best.weights.h5")
    return os.path.join(models_dir, f"{stage.init}.keras")


def command(work: str, models_dir: str, stage: Stage, extra=()) -> list[str]:
    """The ``train.train_denoiser`` command line of a stage."""
    line = [
        sys.executable,
        "-m",
        "train.train_denoiser",
        f"--model_dir={stage_dir(work, stage)}",
        *stage.flags,
        "--verbose=2",
        *extra,
    ]
    init = init_path(work, models_dir, stage)
    if init:
        line.append(f"--init_weights={init}")
    return line


def stage_int(stage: Stage, name: str) -> int:
    """A stage's ``--name=`` value (the last one), or ``separate.TrainConfig``'s default for it."""
    values = [f.split("=", 1)[1] for f in stage.flags if f.startswith(f"--{name}=")]
    if values:
        return int(values[-1])
    return int({f.name: f for f in dataclasses.fields(separate.TrainConfig)}[name].default)


def sized_flags(stage: Stage, rate: float, seconds: float, reserve: float = RESERVE_SECONDS) -> tuple[str, ...]:
    """Flags that make ``stage`` end within ``seconds`` at ``rate`` steps per second, ``reserve`` seconds of them
    kept for its start, evaluations and save: ``--steps`` (a multiple of ``CHECKPOINTS_PER_SIZED_RUN`` x 10, or
    the stage's own where that fits), ``--checkpoint_every`` (a quarter of it) and ``--warmup_steps`` (the
    stage's, at most a tenth of the steps)."""
    unit = CHECKPOINTS_PER_SIZED_RUN * 10
    most = stage_int(stage, "steps")
    fits = int(rate * max(seconds - reserve, 0.0))
    steps = most if fits >= most else fits // unit * unit
    if steps < 1:
        raise SystemExit(f"[zoo] {stage.name}: {seconds:.0f} s at {rate:.2f} steps/s leave no time to train")
    warmup = min(stage_int(stage, "warmup_steps"), steps // 10)
    every = max(1, steps // CHECKPOINTS_PER_SIZED_RUN)
    return f"--steps={steps}", f"--checkpoint_every={every}", f"--warmup_steps={warmup}"


def _check_startable(work: str, models_dir: str, stage: Stage) -> None:
    init = init_path(work, models_dir, stage)
    if init and not os.path.exists(init):
        raise FileNotFoundError(f"{stage.name} starts from {init}, which does not exist (run {stage.init} first)")


def _start(work: str, models_dir: str, stage: Stage, extra) -> subprocess.Popen:
    os.makedirs(stage_dir(work, stage), exist_ok=True)
    line = command(work, models_dir, stage, extra)
    print(f"[zoo] {stage.name}: {' '.join(line[1:])}", flush=True)
    with open(os.path.join(stage_dir(work, stage), "train.log"), "a") as log:
        return subprocess.Popen(line, stdout=log, stderr=subprocess.STDOUT)


def _finish(stage: Stage, process: subprocess.Popen) -> None:
    if process.wait() != 0:
        raise SystemExit(f"[zoo] {stage.name} failed (exit {process.returncode}); see its train.log")
    print(f"[zoo] {stage.name}: finished", flush=True)


def run_queue(stages, work: str, models_dir: str, extra=(), parallel: bool = False, sized: dict | None = None) -> None:
    """Runs the stages not yet done, one after another (or all at once with ``parallel``); ``sized`` maps a stage
    name to flags added after ``extra`` (``sized_flags``)."""
    todo = []
    for stage in stages:
        if is_done(work, stage):
            print(f"[zoo] {stage.name}: done", flush=True)
            continue
        todo.append(stage)

    def flags_of(stage: Stage) -> tuple[str, ...]:
        return (*extra, *(sized or {}).get(stage.name, ()))

    if parallel:
        names = {s.name for s in todo}
        if any(s.init in names for s in todo):
            raise SystemExit("[zoo] --parallel: a stage starts from another stage of the same run")
        for stage in todo:
            _check_startable(work, models_dir, stage)
        started = [(s, _start(work, models_dir, s, flags_of(s))) for s in todo]
        for stage, process in started:
            _finish(stage, process)
        return
    for stage in todo:
        _check_startable(work, models_dir, stage)
        _finish(stage, _start(work, models_dir, stage, flags_of(stage)))


def probe_rates(stages, work: str, models_dir: str, extra=(), parallel: bool = False) -> dict:
    """Steps per second of each stage, from ``PROBE_EPOCHS`` x ``PROBE_STEPS`` steps without evaluation in
    ``<work>/_probe/<stage>`` (run as the stages will be: at the same time with ``parallel``)."""
    probe_work = os.path.join(work, "_probe")
    shutil.rmtree(probe_work, ignore_errors=True)
    probe = (
        f"--steps={PROBE_EPOCHS * PROBE_STEPS}",
        f"--checkpoint_every={PROBE_STEPS}",
        "--eval_images=0",
        "--warmup_steps=0",
    )
    run_queue(stages, probe_work, models_dir, (*extra, *probe), parallel=parallel)
    rates = {}
    for stage in stages:
        rate = runs.steps_per_second(runs.load_history(stage_dir(probe_work, stage)))
        if rate is None:
            raise SystemExit(f"[zoo] {stage.name}: the probe wrote no timed checkpoint")
        rates[stage.name] = rate
        print(f"[zoo] {stage.name}: {rate:.2f} steps/s", flush=True)
    return rates


def main(argv):
    del argv
    stages = [s for s in QUEUES[FLAGS.queue] if not FLAGS.only or s.name in FLAGS.only]
    if FLAGS.list:
        for stage in stages:
            state = (
                "done"
                if is_done(FLAGS.work, stage)
                else ("started" if os.path.isdir(stage_dir(FLAGS.work, stage)) else "to do")
            )
            where = progress(FLAGS.work, stage)
            print(
                f"{stage.name:16s} {state:8s} {f'({where}) ' if where else ''}{' '.join(stage.flags)}  "
                f"init={stage.init}"
            )
        return
    extra = extra_flag_list(FLAGS.extra_flags)
    sized = None
    if FLAGS.seconds:
        deadline = time.time() + FLAGS.seconds
        todo = [s for s in stages if not is_done(FLAGS.work, s)]
        rates = probe_rates(todo, FLAGS.work, FLAGS.models_dir, extra, FLAGS.parallel)
        sized = {s.name: sized_flags(s, rates[s.name], deadline - time.time(), FLAGS.reserve_seconds) for s in todo}
    run_queue(stages, FLAGS.work, FLAGS.models_dir, extra, parallel=FLAGS.parallel, sized=sized)


if __name__ == "__main__":
    app.run(main)
