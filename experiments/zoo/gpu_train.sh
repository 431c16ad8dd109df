#!/usr/bin/env bash
# GPU runbook: train the zoo on a machine with JAX but no TensorFlow, which receives a working tree of
# at most 64 MiB and gives back at most 8 files of 16 MiB. README "Training on a GPU" shows the sequence.
#
#   here:   bash experiments/zoo/gpu_train.sh prepare          # pack CBSD432 into .gpu/, wheels into .whl/,
#                                                    # set experiments/reproduce/models_{reduced,full} and peers aside,
#                                                    # check that what travels fits in 64 MiB
#   there:  bash experiments/zoo/gpu_train.sh run gpu 540      # install wheels, run queue "gpu" for <= 540 s,
#                                                    # one <stage>.tgz per stage into $OUT
#   or:     bash experiments/zoo/gpu_train.sh run gpu_slot 525 --parallel --seconds=480
#                                                    # every stage at once, each sized to end in the slot
#   and:    bash experiments/zoo/gpu_train.sh data_rate            # batches/s of the numpy data path, 1-3 threads
#   or all three in one call, logged to $OUT/slot.log (+ nvidia-smi samples in $OUT/smi.csv):
#           WORK=runs/gpu3 bash experiments/zoo/gpu_train.sh slot gpu_slot3 525 --parallel --seconds=480
#   or:     bash experiments/zoo/gpu_train.sh run gpu_slot 250 --parallel --extra_flags=--steps=1800,--checkpoint_every=450
#                                                    # sized by hand; added after the script's --data_dir
#   here:   bash experiments/zoo/gpu_train.sh unpack DIR [QUEUE]  # DIR: where the returned .tgz files lie -> runs/gpu/
#           bash experiments/zoo/gpu_train.sh restore          # the folders set aside back in place
#
# The run is resumable across slots: carry runs/gpu (and .gpu, .whl) in the next call and it continues
# each stage from its last checkpoint. Environment: WORK (default runs/gpu), DATA (default
# packed:.gpu/CBSD432.npz), SHARED_DATA (default ../shared/data), PYTHON (default python3), OUT (the
# folder results go to), KERAS_BACKEND (default jax on `run`).
set -euo pipefail
cd "$(dirname "$0")/../.."

WORK=${WORK:-runs/gpu}
DATA=${DATA:-packed:.gpu/CBSD432.npz}
SHARED_DATA=${SHARED_DATA:-../shared/data}
PYTHON=${PYTHON:-python3}
ASIDE=${ASIDE:-../semdenoise-aside}
# Shipped files the GPU queue does not read (the reproductions' heads and denoisers, the trained peers): set
# aside so that the working tree travels within the device's 64 MiB.
ASIDE_PATHS="experiments/reproduce/models_reduced experiments/reproduce/models_full saved_models/peers"
LIMIT_BYTES=$((64 * 1024 * 1024))
# Wheels the GPU image lacks (keras and its two compiled/pure helpers), for CPython 3.12 there.
WHEELS="keras==3.15.1 namex==0.1.0 optree==0.20.0"

prepare() {
    mkdir -p .gpu .whl
    grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
    grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
    "$PYTHON" -m tools.pack_images --data "$SHARED_DATA/CBSD432" --out .gpu/CBSD432.npz
    if [ -z "${NO_WHEELS:-}" ]; then
        "$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
            --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
            -d .whl $WHEELS
    fi
    mkdir -p "$ASIDE"
    for path in $ASIDE_PATHS; do
        if [ -d "$path" ]; then
            mv "$path" "$ASIDE/$(basename "$path")"
            echo "$path set aside at $ASIDE (bash experiments/zoo/gpu_train.sh restore puts it back)"
        fi
    done
    travelling
}

travelling() {
    # What the device call copies: the files git tracks or would track (not ignored), plus the carried .gpu and
    # .whl (runs/gpu is carried too from the second slot on: its archives are small).
    local bytes
    # (a file set aside is still in git's index: stat skips it; the carried folders count once, ignored or not)
    bytes=$( { git ls-files -z --cached --others --exclude-standard
               git ls-files -z --others --ignored --exclude-standard -- .gpu .whl; } |
             xargs -0 -r stat -c %s 2>/dev/null | awk '{s += $1} END {print s + 0}' || true)
    echo "travelling: $((bytes / 1024 / 1024)) MiB of $((LIMIT_BYTES / 1024 / 1024)) MiB"
    if [ "$bytes" -gt "$LIMIT_BYTES" ]; then
        echo "too large for the device: set more aside (ASIDE_PATHS) or leave something out" >&2
        return 1
    fi
}

wheels() {
    # The keras wheel (and the others in .whl/) over whatever the machine has; once per machine.
    if [ -z "${NO_WHEELS:-}" ] && ls .whl/*.whl > /dev/null 2>&1 && [ ! -d /tmp/site/keras ]; then
        "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    fi
    case ":${PYTHONPATH:-}:" in
        *:/tmp/site:*) ;;  # already in front (slot: data_rate, then run)
        *) [ -d /tmp/site ] && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH} ;;
    esac
    export KERAS_BACKEND=${KERAS_BACKEND:-jax} PYTHONUNBUFFERED=1
}

data_rate() {
    # How fast one process's numpy data path draws the slot's batches (64 of 96x96) with 1, 2, 3 threads:
    # a few seconds, before the queue. Printed only (the call's log keeps it): $OUT's 8 files go to the stages.
    wheels
    "$PYTHON" -m experiments.zoo.data_rate --data_dir "$DATA" --workers 1,2,3 --batches 30 --passes 2 "$@"
}

slot() {
    # One device call: nvidia-smi samples every 20 s into $OUT/smi.csv (where there is one), the data path's
    # speed (data_rate; DATA_RATE_FLAGS adds its flags), then `run` in what is left of the budget, all of it
    # logged to $OUT/slot.log. $OUT then holds the stages' archives, slot.log and smi.csv: 8 files at most
    # for 5 finished stages (a cut-off stage's backup adds one).
    local queue=${1:-gpu_slot3} budget=${2:-525} out=${OUT:?set OUT to the folder results go to} smi="" status=0
    shift 2 || shift $#  # the rest: experiments.zoo flags (--parallel, --seconds=S)
    mkdir -p "$out"
    local started=$SECONDS
    if command -v nvidia-smi > /dev/null 2>&1; then
        nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 20 > "$out/smi.csv" 2>&1 &
        smi=$!
    fi
    {
        # shellcheck disable=SC2086  # DATA_RATE_FLAGS: words on purpose
        data_rate ${DATA_RATE_FLAGS:-} || echo "data_rate failed (exit $?); training all the same"
        run "$queue" $((budget - (SECONDS - started))) "$@"
    } 2>&1 | tee "$out/slot.log" || status=$?  # pipefail: the group's status
    [ -n "$smi" ] && kill "$smi" 2> /dev/null
    return "$status"
}

run() {
    local queue=${1:-gpu} budget=${2:-540}
    shift 2 || shift $#  # the rest: experiments.zoo flags (--parallel, --seconds=S)
    wheels
    # Several processes share the GPU with --parallel: none takes JAX's default 75% of its memory up front.
    export XLA_PYTHON_CLIENT_PREALLOCATE=${XLA_PYTHON_CLIENT_PREALLOCATE:-false}
    "$PYTHON" -c 'import keras, jax; print("keras", keras.__version__, "backend", keras.backend.backend(), "devices", jax.devices())'
    # The queue stops at the budget (SIGTERM, then SIGKILL 20 s later); every stage resumes next time.
    status=0
    timeout -k 20 "$budget" "$PYTHON" -m experiments.zoo --queue "$queue" --work "$WORK" \
        --extra_flags="--data_dir=$DATA" "$@" || status=$?
    [ "$status" = 124 ] && echo "time budget of $budget s reached; the queue resumes on the next run"
    collect
    [ "$status" = 124 ] && return 0
    return "$status"
}

collect() {
    # One <stage>.tgz per stage (best weights, curve, config, log: what tools/ship_model.py needs) and, for a
    # stage not finished, <stage>.backup.tgz (its last checkpoint, to resume): each weights file with Adam's
    # moments is 12.5 MB, and a file coming back may be 16 MiB at most. The final weights stay behind.
    local out=${OUT:?set OUT to the folder results go to}
    mkdir -p "$out"
    for stage in "$WORK"/*/; do
        [ -d "$stage" ] || continue
        local name
        name=$(basename "$stage")
        case "$name" in _*) continue ;; esac  # the probes of --seconds
        tar -czf "$out/$name.tgz" -C "$WORK" --exclude=logs --exclude=backup --exclude='final.*' "$name"
        if [ ! -e "$stage/final.weights.h5" ] && [ -d "$stage/backup" ]; then
            tar -czf "$out/$name.backup.tgz" -C "$WORK" "$name/backup"
        fi
    done
    ls -la "$out"
}

unpack() {
    local from=${1:?give the folder the .tgz files were returned to} queue=${2:-gpu}
    mkdir -p "$WORK"
    for archive in "$from"/*.tgz; do
        tar -xzf "$archive" -C "$WORK"
    done
    "$PYTHON" -m experiments.zoo --queue "$queue" --work "$WORK" --list
}

restore() {
    for path in $ASIDE_PATHS; do
        if [ -d "$ASIDE/$(basename "$path")" ] && [ ! -e "$path" ]; then
            mv "$ASIDE/$(basename "$path")" "$path"
            echo "$path restored"
        fi
    done
    rmdir "$ASIDE" 2>/dev/null || true
}

command=${1:-}
shift || true
case "$command" in
    prepare) prepare "$@" ;;
    run) run "$@" ;;
    slot) slot "$@" ;;
    data_rate) data_rate "$@" ;;
    collect) collect ;;
    unpack) unpack "$@" ;;
    restore) restore ;;
    travelling) travelling ;;
    *) echo "usage: bash experiments/zoo/gpu_train.sh prepare | run [QUEUE] [BUDGET_S] [train_zoo flags] | unpack DIR [QUEUE] |" \
            "restore | travelling | data_rate [experiments.zoo.data_rate flags] | slot [QUEUE] [BUDGET_S] [experiments.zoo flags]" >&2
       exit 2 ;;
esac
