#!/bin/sh
# Hardware counters of a few decode kernels (device machine, Nsight Compute).
#
#   ncu-decode.sh EXE REGEX [STEPS [SKIP [COUNT]]]
#
# Runs EXE (a CUDA executable) on dummy weights, a 250-token prompt and
# STEPS decode steps (default 4), kernel by kernel (DSRT_NO_GRAPHS=1, so
# each launch is its own profiled range), profiles COUNT (default 200)
# matching launches after skipping SKIP (default 0), and prints for the last
# profiled launch of
# each kernel whose name matches REGEX the metrics of Nsight Compute's speed
# of light, occupancy, launch and warp state sections. Clocks are left alone
# (--clock-control none).
set -eu
exe=$1
regex=$2
steps=${3:-4}
skip=${4:-0}
count=${5:-200}
prompt=$(seq -s ' ' 1 250)
rm -f ncu-decode.ncu-rep
DSRT_NO_GRAPHS=1 ncu --clock-control none --kernel-name "regex:$regex" \
  --launch-skip "$skip" --launch-count "$count" \
  --section SpeedOfLight --section Occupancy --section LaunchStats \
  --section WarpStateStats -o ncu-decode \
  "$exe" --dummy-weights --prompt-ids "$prompt" -n "$steps" --ignore-eos \
  >ncu.log 2>&1 || { tail -5 ncu.log; exit 1; }
ncu --import ncu-decode.ncu-rep --csv --page details >ncu.csv
python3 - <<'PY'
import csv
last = {}
for r in csv.DictReader(open("ncu.csv")):
    last.setdefault(r["Kernel Name"], {})[r["Metric Name"]] = (r["Metric Value"], r["Metric Unit"])
for kernel, metrics in last.items():
    print(kernel)
    for name, (value, unit) in metrics.items():
        print(f"  {name:45s} {value} {unit}")
PY
