#!/usr/bin/env bash
# Compares thinkv's prefill and decode speed with llama.cpp's on the same
# files: a TinyLlama-1.1B-shaped GGUF with random weights (written by
# scripts/synthgguf), quantized to each type, measured by llama-bench and by
# `thinkv bench` with the same prompt, generation, threads and repetitions.
#
#   LLAMA_CPP=/path/to/llama.cpp/build/bin scripts/compare-llama-cpp.sh [WORKDIR]
#
# LLAMA_CPP is the directory holding llama-bench and llama-quantize (built
# outside this repository). Without it, or without those programs, llama.cpp
# is skipped with a message: the files are quantized by `thinkv convert` and
# only thinkv is measured.
#
# WORKDIR (default $TMPDIR/thinkv-compare) receives the models (about 5 GB
# with llama.cpp: F16 2.2 GB, Q8_0 1.2 GB, Q4_0 and Q4_K_M 0.6 GB each, and
# thinkv's own Q4_K_M) and each run's JSON; files already there are reused.
#
# Environment: THREADS (2), P (512 prompt tokens), N (128 generated tokens),
# REPS (3), TYPES ("q8_0 q4_0 q4_k_m"), DEPTH (0: a comma-separated list of
# cache depths, given to thinkv's --depth and llama-bench's -d; each depth
# above 0 adds a row of prefill and decode after that many tokens, and
# thinkv gets the context it needs with -c),
# ROUNDS (1): the two programs take turns on each file ROUNDS times, and
# each test reports the round with the best mean (on a machine other work
# shares, the best round is the nearest to an idle machine, for both).
# Needs go and jq.
#
# llama.cpp built with OpenMP waits at its barriers by spinning: on a
# machine whose cores other processes share, its speed then collapses
# (decode 1–5 tok/s where it does 20 alone). OMP_WAIT_POLICY=PASSIVE in the
# environment, which llama-bench inherits, makes it sleep instead: steady
# under load, somewhat slower when the machine is idle.
set -euo pipefail
cd "$(dirname "$0")/.."

work=${1:-${TMPDIR:-/tmp}/thinkv-compare}
threads=${THREADS:-2}
p=${P:-512}
n=${N:-128}
reps=${REPS:-3}
rounds=${ROUNDS:-1}
types=${TYPES:-q8_0 q4_0 q4_k_m}
depth=${DEPTH:-0}
depths=$(echo "$depth" | tr ',' ' ')
deepest=0
for d in $depths; do deepest=$((d > deepest ? d : deepest)); done
# Depths above 0 need llama-bench's -d (builds from 2025 on); without
# them it is not passed, so older builds work too.
ctx=() ldepth=()
if [ "$deepest" -gt 0 ]; then ctx=(-c $((deepest + (p > n ? p : n)))) ldepth=(-d "$depth"); fi
mkdir -p "$work"
command -v jq >/dev/null || { echo "compare-llama-cpp: needs jq" >&2; exit 1; }

llama=""
if [ -z "${LLAMA_CPP:-}" ]; then
  echo "llama.cpp: skipped (set LLAMA_CPP to the directory with llama-bench and llama-quantize)" >&2
elif [ ! -x "$LLAMA_CPP/llama-bench" ] || [ ! -x "$LLAMA_CPP/llama-quantize" ]; then
  echo "llama.cpp: skipped ($LLAMA_CPP has no built llama-bench and llama-quantize)" >&2
else
  llama=$LLAMA_CPP
fi

go build -o "$work/thinkv" ./cmd/thinkv
thinkv=$work/thinkv
f16=$work/tinyllama-f16.gguf
if [ ! -f "$f16" ]; then
  echo "writing $f16 (TinyLlama-1.1B shapes, random F16 weights)" >&2
  go run ./scripts/synthgguf -o "$f16"
fi

# quantize TYPE OUT: llama-quantize when llama.cpp is here, else thinkv convert.
quantize() {
  if [ -f "$2" ]; then return; fi
  echo "quantizing $2" >&2
  if [ -n "$llama" ]; then
    "$llama/llama-quantize" "$f16" "$2" "$(echo "$1" | tr a-z A-Z)" "$threads" >"$2.log" 2>&1 ||
      { cat "$2.log" >&2; return 1; }
  else
    "$thinkv" convert "$f16" "$2" --type "$1" >&2
  fi
}

# The files to measure: each type as llama-quantize (or thinkv) writes it,
# and thinkv's own Q4_K_M, which llama.cpp must read too. Names have no
# spaces: each row is read back word by word.
models=()
for t in $types; do
  quantize "$t" "$work/tinyllama-$t.gguf"
  models+=("$t=$work/tinyllama-$t.gguf")
done
if [ -n "$llama" ] && [[ " $types " == *" q4_k_m "* ]]; then
  own=$work/tinyllama-q4_k_m-thinkv.gguf
  [ -f "$own" ] || "$thinkv" convert "$f16" "$own" --type q4_k_m >&2
  models+=("q4_k_m/thinkv-convert=$own")
fi

for round in $(seq "$rounds"); do
  for entry in "${models[@]}"; do
    name=${entry%%=*} file=${entry#*=} tag=$(basename "$file" .gguf)
    echo "round $round: thinkv bench $name" >&2
    "$thinkv" bench -m "$file" -p "$p" -n "$n" --depth "$depth" "${ctx[@]}" --threads "$threads" -r "$reps" --json >"$work/$tag.thinkv.$round.json"
    if [ -n "$llama" ]; then
      echo "round $round: llama-bench $name" >&2
      "$llama/llama-bench" -m "$file" -t "$threads" -p "$p" -n "$n" "${ldepth[@]}" -r "$reps" -o json >"$work/$tag.llama.$round.json" 2>"$work/$tag.llama.log" ||
        { cat "$work/$tag.llama.log" >&2; exit 1; }
    fi
  done
done

# The best round of each program and test, a row per file and depth.
rows=()
for entry in "${models[@]}"; do
  name=${entry%%=*} file=${entry#*=} tag=$(basename "$file" .gguf)
  for d in $depths; do
    label=$name
    [ "$d" -gt 0 ] && label="$name@d$d"
    runs=$(seq -f "$work/$tag.thinkv.%g.json" "$rounds")
    tpp=$(jq -rs --argjson d "$d" '[.[].tests[] | select(.kind=="pp" and .depth==$d)] | max_by(.mean_tokens_per_s) | "\(.mean_tokens_per_s) \(.sd_tokens_per_s)"' $runs)
    ttg=$(jq -rs --argjson d "$d" '[.[].tests[] | select(.kind=="tg" and .depth==$d)] | max_by(.mean_tokens_per_s) | "\(.mean_tokens_per_s) \(.sd_tokens_per_s) \(.roofline_fraction)"' $runs)
    lpp="- -" ltg="- -"
    if [ -n "$llama" ]; then
      runs=$(seq -f "$work/$tag.llama.%g.json" "$rounds")
      lpp=$(jq -rs --argjson d "$d" '[.[][] | select(.n_prompt>0 and .n_gen==0 and (.n_depth // 0)==$d)] | max_by(.avg_ts) | "\(.avg_ts) \(.stddev_ts)"' $runs)
      ltg=$(jq -rs --argjson d "$d" '[.[][] | select(.n_gen>0 and .n_prompt==0 and (.n_depth // 0)==$d)] | max_by(.avg_ts) | "\(.avg_ts) \(.stddev_ts)"' $runs)
    fi
    rows+=("$label $tpp $ttg $lpp $ltg")
  done
done

echo
first=$(basename "${models[0]#*=}" .gguf)
echo "$(basename "$f16" -f16.gguf), random weights; $threads threads, pp$p and tg$n, $reps repetitions (mean ± sd, tokens/s), best of $rounds round(s)"
[ -n "$llama" ] && echo "llama.cpp: $(jq -r '.[0] | "build \(.build_commit) (\(.build_number)), \(.cpu_info)"' "$work/$first.llama.1.json")${OMP_WAIT_POLICY:+, OMP_WAIT_POLICY=$OMP_WAIT_POLICY}"
echo "thinkv: $("$thinkv" --version | head -1), kernels $(jq -r .kernel_tier "$work/$first.thinkv.1.json"), read bandwidth $(jq -r '.read_bandwidth_bytes_per_s/1e9*10|round/10' "$work/$first.thinkv.1.json") GB/s (round 1)"
printf '\n%-22s %16s %16s %6s %16s %16s %6s %9s %s\n' type "thinkv pp" "llama.cpp pp" ratio "thinkv tg" "llama.cpp tg" ratio roofline "achieved (thinkv / llama.cpp)"
for r in "${rows[@]}"; do
  read -r name tpp tppsd ttg ttgsd frac lpp lppsd ltg ltgsd <<<"$r"
  awk -v name="$name" -v tpp="$tpp" -v tppsd="$tppsd" -v ttg="$ttg" -v ttgsd="$ttgsd" -v frac="$frac" \
    -v lpp="$lpp" -v lppsd="$lppsd" -v ltg="$ltg" -v ltgsd="$ltgsd" 'BEGIN {
      f = "%-22s %17s %17s %6s %17s %17s %6s %9s %s\n"
      tp = sprintf("%.2f ± %.2f", tpp, tppsd); tt = sprintf("%.2f ± %.2f", ttg, ttgsd)
      lp = "-"; lt = "-"; rp = "-"; rt = "-"
      if (lpp != "-") { lp = sprintf("%.2f ± %.2f", lpp, lppsd); rp = sprintf("%.2f", tpp / lpp) }
      roof = ttg / frac; share = sprintf("%.0f%%", 100 * frac)
      if (ltg != "-") {
        lt = sprintf("%.2f ± %.2f", ltg, ltgsd); rt = sprintf("%.2f", ttg / ltg)
        share = share sprintf(" / %.0f%%", 100 * ltg / roof)
      }
      printf f, name, tp, lp, rp, tt, lt, rt, sprintf("%.1f", roof), share
    }'
done
echo
echo "ratio: thinkv ÷ llama.cpp. roofline: decode tokens/s if every weight byte a token reads streamed at"
echo "the read bandwidth thinkv bench measured; then the share of it thinkv (and llama.cpp) achieved."
echo "JSON of every run: $work"
