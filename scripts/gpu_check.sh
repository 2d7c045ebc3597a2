#!/usr/bin/env bash
# scripts/gpu_check.sh -- the full profile on one GPU, in one command, within a time budget:
#
#   1. versions (python, torch, torchvision, CUDA) and nvidia-smi
#   2. CIFAR-10: decoded once from the JPEG tarball into data/cache/cifar10-{train,test}.pt
#   3. the CUDA-marked tests (pytest -m cuda, only the test files that have them)
#   4. python -m sslkit bench train --device cuda --dataset cifar10 --backbone resnet18 --batch-size 512
#      (sslkit vs a torchvision + DataLoader pipeline, same model; with torch.compile, and again
#      without it if compilation fails)
#   5. a `full`-profile pretrain of the method (ResNet-18, CIFAR-10, its full recipe, kNN monitor every
#      10 epochs) for as many epochs as the budget allows after the epoch time measured in 4 (at most
#      200), then its evaluation (kNN, linear probe) -- all by `python -m sslkit pretrain`
#   6. results/<date>-<gpu>.json (config, per-epoch times, kNN / linear accuracy, versions, the bench
#      result, the test outcome) by `python -m sslkit.tools.results write`, copied to $OUT, and the
#      results table rendered from results/
#
# On a GPU machine without internet, put the CIFAR-10 JPEG tarball (cifar10-jpeg.tar.gz, 19 MB) in
# data/cache/ first; then `bash scripts/gpu_check.sh`, and commit the result file it writes in results/.
#
# Settings (environment):
#   SSLKIT_GPU_CHECK_DEVICE   cuda (default) or cpu: the dry run, tiny sizes, for checking this script on a CPU
#   SSLKIT_GPU_CHECK_METHOD   simclr (default) or any registered method: its full recipe is benched and pretrained
#   SSLKIT_GPU_CHECK_BUDGET   seconds the whole script may take (default 560 on cuda, 900 on cpu)
#   SSLKIT_GPU_CHECK_EPOCHS   force the pretrain's epochs instead of sizing them
#   SSLKIT_GPU_CHECK_WORKERS  DataLoader workers of the reference pipeline (default 8 on cuda, 1 on cpu)
#   SSLKIT_GPU_CHECK_COMPILE  1 (default on cuda) or 0: torch.compile in the bench and the pretrain
#   SSLKIT_CIFAR10            the CIFAR-10 tarball (or a folder holding it); default: the first of
#                             data/cache/ and data/ that has cifar10-jpeg.tar.gz
#   PYTHON                    the interpreter (default python3; on cpu .venv/bin/python when present)
#   OUT                       where the log and result files are collected (default: a new temporary folder)
#
# Dry run on a CPU (a few minutes):  SSLKIT_GPU_CHECK_DEVICE=cpu bash scripts/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
T0=$(date +%s)

DEVICE=${SSLKIT_GPU_CHECK_DEVICE:-cuda}
case "$DEVICE" in cuda|cpu) ;; *) echo "SSLKIT_GPU_CHECK_DEVICE must be cuda or cpu, got $DEVICE" >&2; exit 2 ;; esac
METHOD=${SSLKIT_GPU_CHECK_METHOD:-simclr}
if [ "$DEVICE" = cuda ]; then
    BUDGET=${SSLKIT_GPU_CHECK_BUDGET:-560}
    WORKERS=${SSLKIT_GPU_CHECK_WORKERS:-8}
    COMPILE=${SSLKIT_GPU_CHECK_COMPILE:-1}
    PY=${PYTHON:-python3}
    RESULTS=${SSLKIT_GPU_CHECK_RESULTS:-results}
    BENCH_SIZE=(--backbone resnet18 --batch-size RECIPE --steps 30)   # RECIPE: the method's full batch
    RUN_SIZE=(--device cuda)
    TRAIN_IMAGES=50000
    MAX_EPOCHS=200
    EVAL_RESERVE=60      # evaluation of the trained and a random-init encoder (kNN, linear probes)
    START_RESERVE=45     # the pretrain process: imports, data to the GPU, compilation (cached by the bench)
else
    BUDGET=${SSLKIT_GPU_CHECK_BUDGET:-900}
    WORKERS=${SSLKIT_GPU_CHECK_WORKERS:-1}
    COMPILE=${SSLKIT_GPU_CHECK_COMPILE:-0}
    if [ -z "${PYTHON:-}" ] && [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=${PYTHON:-python3}; fi
    RESULTS=${SSLKIT_GPU_CHECK_RESULTS:-results/tmp}   # git-ignored: a dry run leaves no result file to commit
    BENCH_SIZE=(--backbone convnet --width 8 --batch-size 64 --steps 4 --threads 1)
    RUN_SIZE=(--device cpu --backbone convnet --width 8 --batch-size 64 --train-subset 1024 --knn-every 1
              --checkpoint-every 1)
    TRAIN_IMAGES=1024
    MAX_EPOCHS=2
    EVAL_RESERVE=120
    START_RESERVE=20
    export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
fi
OUT=${OUT:-$(mktemp -d /tmp/gpu_check.XXXXXX)}
mkdir -p "$OUT" "$RESULTS"
RUN=runs/gpu-check-$(date -u +%Y%m%d-%H%M%S)
export PYTHONUNBUFFERED=1 PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
exec > >(tee "$OUT/gpu_check.log") 2>&1

left() { echo $(( BUDGET - ($(date +%s) - T0) )); }
stage() { echo; echo "=== [$(( $(date +%s) - T0 )) s, $(left) s left] $*"; }
STATUS=0
fail() { echo "!!! $*"; STATUS=1; }

stage "1. versions ($DEVICE dry run: ${DEVICE/cuda/no})"
echo "repo $REPO  commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')  python $PY  OUT $OUT"
"$PY" - "$DEVICE" <<'EOF' || { echo "python/torch unusable"; exit 1; }
import platform, sys
import torch, torchvision
print("python", platform.python_version(), "| torch", torch.__version__, "| torchvision", torchvision.__version__,
      "| CUDA", torch.version.cuda, "| cuDNN", torch.backends.cudnn.version() if torch.cuda.is_available() else None)
if sys.argv[1] == "cuda":
    if not torch.cuda.is_available():
        sys.exit("CUDA is not available to torch")
    p = torch.cuda.get_device_properties(0)
    print("GPU", p.name, f"{p.total_memory / 2**30:.0f} GiB, capability {p.major}.{p.minor}, {p.multi_processor_count} SMs")
    if tuple(int(v) for v in torch.__version__.split("+")[0].split(".")[:2]) < (2, 4):
        print("warning: torch older than 2.4; sslkit pins torch 2.14")
EOF
if command -v nvidia-smi >/dev/null; then nvidia-smi; elif [ "$DEVICE" = cuda ]; then fail "no nvidia-smi"; fi
RECIPE_BATCH=$("$PY" -c "from sslkit.config import resolve; print(resolve('full', method='$METHOD').batch_size)") \
    || { echo "SSLKIT_GPU_CHECK_METHOD: see the error above"; exit 2; }
BENCH_SIZE=("${BENCH_SIZE[@]/RECIPE/$RECIPE_BATCH}")
echo "method $METHOD (full recipe: batch $RECIPE_BATCH)"

stage "2. CIFAR-10"
if [ -z "${SSLKIT_CIFAR10:-}" ]; then
    for c in data/cache/cifar10-jpeg.tar.gz data/cifar10-jpeg.tar.gz; do
        if [ -f "$c" ]; then SSLKIT_CIFAR10=$c; break; fi
    done
fi
if [ -n "${SSLKIT_CIFAR10:-}" ]; then echo "tarball: $SSLKIT_CIFAR10"
else echo "no tarball found: the decoded cache data/cache/cifar10-*.pt must exist"; fi
SSLKIT_CIFAR10=${SSLKIT_CIFAR10:-} timeout 240 "$PY" - <<'EOF' || { echo "no CIFAR-10: put cifar10-jpeg.tar.gz in data/cache/ (see the header)"; exit 1; }
import os, time
from sslkit.data import load
t = time.perf_counter()
root = os.environ.get("SSLKIT_CIFAR10") or None
for split in ("train", "test"):
    x, y = load("cifar10", split, root=root, download=False)  # decodes the tarball once into data/cache
    print(split, tuple(x.shape), x.dtype, f"{len(set(y.tolist()))} classes")
print(f"ready in {time.perf_counter() - t:.1f} s")
EOF

stage "3. CUDA-marked tests"
CUDA_TESTS=$(grep -l "mark.cuda" tests/test_*.py | tr '\n' ' ')
echo "files: $CUDA_TESTS"
timeout 240 "$PY" -m pytest -m cuda -q -rs -p no:cacheprovider $CUDA_TESTS 2>&1 | tail -n 40
TESTS_RC=${PIPESTATUS[0]}
if [ "$DEVICE" = cpu ] && [ "$TESTS_RC" = 5 ]; then TESTS_RC=0; fi  # dry run: all deselected/skipped is fine
[ "$TESTS_RC" = 0 ] || fail "CUDA tests failed (rc $TESTS_RC)"

stage "4. bench train ($METHOD, cifar10, $DEVICE, workers $WORKERS, compile $COMPILE)"
bench() {
    timeout "$1" "$PY" -m sslkit bench train --method "$METHOD" --device "$DEVICE" --dataset cifar10 "${BENCH_SIZE[@]}" \
        --workers "$WORKERS" "${@:2}" --out "$OUT/bench.json"
}
BENCH_RC=1
if [ "$COMPILE" = 1 ]; then
    bench $(( $(left) / 2 )) --compile; BENCH_RC=$?
    if [ "$BENCH_RC" != 0 ]; then
        fail "bench with torch.compile failed (rc $BENCH_RC): measuring eager, pretraining without compile"
        COMPILE=0
    fi
fi
if [ "$BENCH_RC" != 0 ]; then bench $(( $(left) / 3 )); BENCH_RC=$?; fi
[ "$BENCH_RC" = 0 ] || fail "bench train failed (rc $BENCH_RC)"

stage "5. pretrain $METHOD, full profile, sized to the time left"
EPOCH_S=$("$PY" -c "import json; print(json.load(open('$OUT/bench.json'))['sslkit_seconds_per_epoch'])" 2>/dev/null)
EPOCHS=$("$PY" - "${EPOCH_S:-}" "$(left)" <<EOF
import math, sys
epoch_s, left = sys.argv[1], int(sys.argv[2])
forced = "${SSLKIT_GPU_CHECK_EPOCHS:-}"
if forced:
    print(int(forced)); sys.exit()
if not epoch_s:
    print(1 if left > $EVAL_RESERVE + $START_RESERVE + 60 else 0); sys.exit()
# the bench's epoch is the whole training split; this run may use a subset (dry run)
per_epoch = float(epoch_s) * $TRAIN_IMAGES / 50000 * 1.15 + 0.2   # + kNN monitor, checkpoints, jitter
print(max(0, min($MAX_EPOCHS, math.floor((left - $EVAL_RESERVE - $START_RESERVE) / per_epoch))))
EOF
)
echo "measured $(printf '%.2f' "${EPOCH_S:-0}") s/epoch (bench, full split) -> $EPOCHS epochs"
PRETRAIN_RC=skipped
COMPILE_FLAG=(); [ "$COMPILE" = 1 ] && COMPILE_FLAG=(--compile)
CMD="python -m sslkit pretrain --profile full --method $METHOD --epochs $EPOCHS ${RUN_SIZE[*]}${COMPILE_FLAG[*]:+ ${COMPILE_FLAG[*]}}"
if [ "${EPOCHS:-0}" -ge 1 ]; then
    timeout $(( $(left) - 15 )) "$PY" -m sslkit pretrain --profile full --method "$METHOD" --epochs "$EPOCHS" "${RUN_SIZE[@]}" \
        "${COMPILE_FLAG[@]}" --out "$RUN" --no-progress
    PRETRAIN_RC=$?
    [ "$PRETRAIN_RC" = 0 ] || fail "pretrain failed or ran out of time (rc $PRETRAIN_RC); recording what it wrote"
else
    fail "no time left for a pretrain"
fi

stage "6. result file"
if [ -f "$RUN/history.json" ]; then
    BENCH_ARG=(); [ -f "$OUT/bench.json" ] && BENCH_ARG=(--bench "$OUT/bench.json")
    RESULT=$("$PY" -m sslkit.tools.results write --run "$RUN" "${BENCH_ARG[@]}" --device "$DEVICE" --dir "$RESULTS" \
        --command "$CMD" --set cuda_tests_rc "$TESTS_RC" --set pretrain_rc "\"$PRETRAIN_RC\"" \
        --set gpu_check_seconds "$(( $(date +%s) - T0 ))" --set dry_run "$([ "$DEVICE" = cpu ] && echo true || echo false)")
    if [ -n "$RESULT" ] && [ -f "$RESULT" ]; then
        cp "$RESULT" "$OUT/" && echo "wrote $RESULT (copy in $OUT/$(basename "$RESULT"))"
        [ -f "$RUN/metrics.json" ] && cp "$RUN/metrics.json" "$OUT/metrics.json"
        cp "$RUN/history.json" "$OUT/history.json"
    else
        fail "could not write the result file"
    fi
    echo; "$PY" -m sslkit.tools.results table "$RESULTS"
else
    fail "no $RUN/history.json: nothing to record"
fi

stage "done, status $STATUS"
exit $STATUS
