#!/usr/bin/env bash
# `make bench-compare`: segviz against PyTorch + MONAI on this machine, side by side. Alternates, ROUNDS (5) times,
# the release segviz's benchmarks with the unmodified anchor scripts of ../shared/anchors, all with THREADS (2)
# threads, and prints each round's figures, the medians over the rounds and segviz/PyTorch ratios:
#   training step and one-patch inference (96^3, batch 1):
#     segviz bench unet --patch 96 96 96 --batch 1 --steps 5 --threads T
#     torch_unet_step.py --model monai --patch 96 96 96 --batch 1 --steps 5 --warmup 1 --threads T
#   whole-CT sliding-window inference (roi 96^3, overlap 0.25, Gaussian) over the real CT:
#     segviz bench infer --threads T --reps 3          monai_sliding_window.py CT --threads T (3 reps)
# The PyTorch side runs in the virtual environment of scripts/bench-venv.sh (created on first use). The load
# average is printed before every round: the machine is shared, so compare only figures of one session.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SEGVIZ_SHARED:-$(cd .. && pwd)/shared}
ANCHORS=$SHARED/anchors
CT=${BENCH_CT:-$SHARED/data/real-ct-abdomen-3mm.nii.gz}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-5}
BIN=${SEGVIZ_BIN:-.build/release/segviz}
PY=$(bash scripts/bench-venv.sh)
[ -x "$BIN" ] || { echo "bench-compare: $BIN missing (make release)" >&2; exit 1; }
for f in "$ANCHORS/torch_unet_step.py" "$ANCHORS/monai_sliding_window.py" "$CT"; do
  [ -f "$f" ] || { echo "bench-compare: $f missing (set SEGVIZ_SHARED)" >&2; exit 1; }
done
LOG=$(mktemp -d "${TMPDIR:-/tmp}/segviz-bench-compare.XXXXXX")
echo "bench-compare: $ROUNDS alternating rounds, $THREADS threads; full outputs in $LOG"

# The key=value pairs of every line of a run's output (the anchors print some figures before their last line).
pairs() { grep -oE '[a-z_]+=[0-9.]+' "$1" | tr '\n' ' '; }

for r in $(seq 1 "$ROUNDS"); do
  echo "round $r: load average $(cut -d' ' -f1-3 /proc/loadavg)"
  "$BIN" bench unet --patch 96 96 96 --batch 1 --steps 5 --threads "$THREADS" > "$LOG/segviz-unet-$r.txt"
  "$PY" "$ANCHORS/torch_unet_step.py" --model monai --patch 96 96 96 --batch 1 --steps 5 --warmup 1 \
    --threads "$THREADS" > "$LOG/torch-unet-$r.txt"
  "$BIN" bench infer --input "$CT" --threads "$THREADS" --reps 3 > "$LOG/segviz-infer-$r.txt"
  "$PY" "$ANCHORS/monai_sliding_window.py" "$CT" --threads "$THREADS" > "$LOG/monai-infer-$r.txt"
  echo "  segviz unet:  $(tail -1 "$LOG/segviz-unet-$r.txt")"
  echo "  torch unet:   $(pairs "$LOG/torch-unet-$r.txt")"
  echo "  segviz infer: $(tail -1 "$LOG/segviz-infer-$r.txt")"
  echo "  monai infer:  $(pairs "$LOG/monai-infer-$r.txt")"
done
echo "after: load average $(cut -d' ' -f1-3 /proc/loadavg)"

# Medians over the rounds and the ratios.
python3 - "$LOG" "$ROUNDS" "$THREADS" <<'EOF'
import re, statistics, sys
log, rounds, threads = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def figures(name, r):
    out = {}
    with open(f"{log}/{name}-{r}.txt") as f:
        for line in f:
            for k, v in re.findall(r"([a-z_]+)=([0-9.]+)", line):
                out[k] = float(v)
    return out
runs = {n: [figures(n, r) for r in range(1, rounds + 1)] for n in ("segviz-unet", "torch-unet", "segviz-infer", "monai-infer")}
def med(name, key):
    vals = [f[key] for f in runs[name] if key in f]
    return statistics.median(vals) if vals else float("nan"), vals
rows = [("training step, 96^3, batch 1 (s)", ("segviz-unet", "unet_step_s"), ("torch-unet", "torch_step_s")),
        ("one-patch inference, 96^3 (s)", ("segviz-unet", "unet_infer_s"), ("torch-unet", "torch_infer_s")),
        ("whole CT, sliding window (s)", ("segviz-infer", "infer_volume_s"), ("monai-infer", "monai_infer_volume_s")),
        ("peak memory, step + inference (MiB)", ("segviz-unet", "peak_rss_mib"), ("torch-unet", "peak_rss_mib")),
        ("peak memory, whole CT (MiB)", ("segviz-infer", "peak_rss_mib"), ("monai-infer", "peak_rss_mib"))]
print(f"\nmedian of {rounds} alternating rounds, {threads} threads (per-round values in brackets)")
print(f"{'figure':40s} {'segviz':>10s} {'PyTorch':>10s} {'ratio':>7s}")
for label, (sn, sk), (tn, tk) in rows:
    s, sv = med(sn, sk); t, tv = med(tn, tk)
    print(f"{label:40s} {s:10.3f} {t:10.3f} {s / t:7.3f}   [{' '.join(f'{v:g}' for v in sv)}] vs [{' '.join(f'{v:g}' for v in tv)}]")
for label, key in (("segviz step CPU-s", "step_cpu_s"), ("segviz inference CPU-s", "infer_cpu_s"),
                   ("segviz first inference, packing (s)", "unet_infer_cold_s")):
    print(f"{label:40s} {med('segviz-unet', key)[0]:10.3f}")
for label, key in (("segviz whole-CT CPU-s", "infer_volume_cpu_s"), ("segviz file-to-mask (s)", "pipeline_s")):
    print(f"{label:40s} {med('segviz-infer', key)[0]:10.3f}")
EOF
