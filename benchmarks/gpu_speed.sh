#!/usr/bin/env bash
# GPU speed set: bench_video.py at 1080p and 4k, the model at the full frame
# (--size = the long side), then the whole run with NVENC if this FFmpeg has it.
#
#   OUT=/some/folder bash benchmarks/gpu_speed.sh        # DEVICE=cuda by default
#
# Writes into $OUT: speed_log.txt (everything printed), speed.json (one JSON
# line per case: bench_video's own line, or {"case", "rc", "error"} when it
# failed, timed out or was skipped) and nvidia_smi.csv. Each case runs under
# `timeout`, capped by what is left of BUDGET seconds (counted from this
# script's start), so one slow case cannot eat the rest. Every knob is an
# environment variable, so a CPU smoke test runs the same lines, e.g.
#   DEVICE=cpu F1080=0:2 F4K=0:1 S1080=128 S4K=128 REPEATS=1 OUT=/tmp/o bash benchmarks/gpu_speed.sh
set -uo pipefail
export PYTHONUNBUFFERED=1
cd "$(dirname "$0")/.."
: "${OUT:?set OUT to the results folder}"
mkdir -p "$OUT"
DEVICE=${DEVICE:-cuda}
PY=${PY:-python3}            # may carry flags, e.g. "python3 -S"
BUDGET=${BUDGET:-135}        # seconds for this whole script
REPEATS=${REPEATS:-2}
F1080=${F1080:-0:60}         # the sample clip has 60 frames
F4K=${F4K:-0:30}
S1080=${S1080:-1920}
S4K=${S4K:-3840}
export VIDSTYLE_WEIGHTS=${VIDSTYLE_WEIGHTS:-$PWD/weights}
JSON="$OUT/speed.json"
: > "$JSON"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

note() {  # note CASE RC MESSAGE: a JSON line for a case that printed none
  $PY -c 'import json,sys; print(json.dumps({"case": sys.argv[1], "rc": int(sys.argv[2]), "error": sys.argv[3]}))' \
    "$1" "$2" "$3" >> "$JSON"
}

bench() {  # bench CASE CAP_S ARGS...: one bench_video.py run, under timeout
  local name=$1 cap=$2 left t rc
  shift 2
  left=$((BUDGET - SECONDS - 3))
  t=$((cap < left ? cap : left))
  echo
  echo "=== $name (timeout ${t}s, ${SECONDS}s elapsed) ==="
  if ((t < 12)); then
    echo "skipped: ${left}s left of the budget"
    note "$name" -1 "skipped: ${left}s left of the ${BUDGET}s budget"
    return
  fi
  timeout -k 5 "$t" $PY benchmarks/bench_video.py --device "$DEVICE" --repeats "$REPEATS" "$@" 2>&1 | tee "$TMP/case.txt"
  rc=$?
  if grep -q '^{"device"' "$TMP/case.txt"; then
    grep '^{"device"' "$TMP/case.txt" | tail -1 >> "$JSON"
  else
    local msg
    if ((rc == 124 || rc == 137)); then msg="timed out after ${t}s"; else msg=$(grep -v '^\s*$' "$TMP/case.txt" | tail -1); fi
    note "$name" "$rc" "$msg"
  fi
  echo "--- $name: rc $rc, ${SECONDS}s elapsed"
}

main() {
  echo "=== machine ($(date -u +%FT%TZ)) device=$DEVICE budget=${BUDGET}s ==="
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/nvidia_smi.csv" \
    || echo "no nvidia-smi"
  ldconfig -p 2>/dev/null | grep -E 'libnvidia-encode|libnvcuvid' || echo "no libnvidia-encode / libnvcuvid in ldconfig"
  $PY - <<'EOF'
import sys, av, torch, vidstyle, vidstyle.model as m
print("python", sys.version.split()[0], "| torch", torch.__version__, "cuda", torch.version.cuda,
      "available", torch.cuda.is_available(), "| av", av.__version__, "ffmpeg", getattr(av, "ffmpeg_version_info", "?"))
print("vidstyle from", vidstyle.__file__, "| weights", m.weights_dir())
try:
    import kornia
    print("kornia", kornia.__version__)
except Exception as e:
    print("kornia import failed:", repr(e))
print("GPU codecs in PyAV's FFmpeg:", sorted(c for c in av.codecs_available if "nvenc" in c or "cuvid" in c))
EOF
  # Can NVENC actually open here (needs libnvidia-encode from the driver)? One frame, small.
  NVENC=""
  for enc in h264_nvenc hevc_nvenc; do
    if timeout 30 $PY - "$enc" <<'EOF'
import sys
from fractions import Fraction
import av, numpy as np
name = sys.argv[1]
if name not in av.codecs_available:
    sys.exit(f"{name}: not in this FFmpeg build")
cc = av.CodecContext.create(name, "w")
cc.width, cc.height, cc.pix_fmt, cc.time_base = 1920, 1080, "yuv420p", Fraction(1, 10)
cc.options = {"preset": "p4", "rc": "vbr", "cq": "18", "b": "0"}
try:
    f = av.VideoFrame.from_ndarray(np.zeros((1080, 1920, 3), np.uint8), format="rgb24").reformat(format="yuv420p")
    f.pts = 0
    n = len(cc.encode(f)) + len(cc.encode(None))
except Exception as e:
    sys.exit(f"{name}: cannot encode here: {e!r}")
print(f"{name}: opened and encoded one 1080p frame ({n} packets)")
EOF
    then NVENC="$NVENC $enc"; fi
  done

  bench 1080p_libx264 45 --resolution 1080p --frames "$F1080" --size "$S1080"
  bench 4k_libx264 55 --resolution 4k --frames "$F4K" --size "$S4K"
  if [[ " $NVENC " == *" h264_nvenc "* ]]; then
    bench 4k_h264_nvenc 40 --resolution 4k --frames "$F4K" --size "$S4K" --codec h264_nvenc
    bench 1080p_h264_nvenc 30 --resolution 1080p --frames "$F1080" --size "$S1080" --codec h264_nvenc
  else
    echo "no working h264_nvenc: no NVENC whole runs"
    note nvenc 0 "no working h264_nvenc (see speed_log.txt)"
  fi

  echo
  echo "=== summary (${SECONDS}s) ==="
  $PY - "$JSON" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if "fps" in r:
        f = r["fps"]
        print(f"{r['resolution']:>5} {r['codec']:<10} {r['frames']:3d} fr size {r['size']}: decode {f['decode']:7.2f}  "
              f"model {f['model']:7.2f}  whole {f['whole run']:7.2f} fps  whole/model {r['overhead_ratio']:.3f}  "
              f"(in-run encode busy {r['whole_run_stages_fps']['encode_fps']:.2f} fps)")
    else:
        print(f"{r['case']}: rc {r['rc']}: {r['error']}")
EOF
}

main 2>&1 | tee "$OUT/speed_log.txt"
