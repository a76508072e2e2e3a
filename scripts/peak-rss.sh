#!/usr/bin/env bash
# Prints the peak resident memory (VmHWM, as thinkv's --json reports it) of
# one thinkv run per press, on one model at one cache depth, beside the
# first press's (none by default) and the KV bytes held at the end:
#
#   scripts/peak-rss.sh MODEL DEPTH [PRESS...]
#
# MODE=bench (default) runs `thinkv bench -p 0 -n N --depth DEPTH -r 1`:
# synthetic tokens, the cache filled to DEPTH under the press, then N tokens
# decoded on a copy of it (bench's Clone: every run holds its filled cache
# twice). MODE=generate runs `thinkv generate -n N` on a prompt of about
# DEPTH tokens cut from TEXT (default: the Paul Graham essays in
# ../shared), the path a user's request takes; CHUNK=C adds
# --chunked-compress --chunk C to every press but none. Also: N (8),
# KV_TYPE (f16), THREADS (the cores), REPS (1: runs per press, their
# median printed with their range), PRESSES' default: none,
# think:ratio=0.5, snapkv:budget=DEPTH/4 and snapkv:budget=DEPTH/4+think:ratio=0.5.
# Needs go and jq. Each run is one process, so each peak is its own.
#
# Why compression does not raise the peak over the full cache's run (read
# in kvcache/head.go and the presses' Compress loops): the prompt's cache is
# allocated once at its size (Cache.Grow), and Compress reshapes it head by
# head, each head's new segments built (Keep, PruneKeys: exact rows plus
# the reserve) before its old ones are dropped, so the old rows of the heads
# done are garbage until the collector runs: the most at once is the full
# cache, the compressed one, and the scoring scratch (SnapKV and ThinK
# decode one head's keys to float32, Len·D·4 bytes, and SnapKV's window
# weights take Window·Len·4, reused from head to head). The full cache's
# run pays more: its first decoded token grows every head from P rows to
# min(2P, P+N−1), a new array beside the old one; bench decodes on a copy
# of the filled cache (Clone) and grows the copy: up to three full caches.
#
# Where it does rise (needle, 16,373-token prompt, MODE=generate REPS=3,
# KV 33.5 MB): with N=1 the full cache's run never grows (77.6 MB), and
# every press costs its scratch and ThinK its new pruned rows beside the
# old full ones (snapkv 88.1 MB, think 91.2); ThinK alone with CHUNK=256
# reallocates every head's segments after every chunk (its repeated
# Compress ends with Keep): the chunker now collects that garbage after
# each chunk, which brought it from 165.2 MB to 115.5 against the full
# cache's 109.3 (GOGC=25 alone gave 108.9).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 2 ]; then
  echo "usage: scripts/peak-rss.sh MODEL DEPTH [PRESS...]" >&2
  exit 2
fi
model=$1 depth=$2
shift 2
presses=("$@")
if [ ${#presses[@]} -eq 0 ]; then
  b=$((depth / 4))
  presses=(none think:ratio=0.5 "snapkv:budget=$b" "snapkv:budget=$b+think:ratio=0.5")
fi
mode=${MODE:-bench} n=${N:-8} typ=${KV_TYPE:-f16} chunk=${CHUNK:-}
threads=(); [ -n "${THREADS:-}" ] && threads=(--threads "$THREADS")
command -v jq >/dev/null || { echo "peak-rss: needs jq" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/thinkv" ./cmd/thinkv
thinkv=$work/thinkv

if [ "$mode" = generate ]; then
  # A prompt of about DEPTH tokens: the text repeated as needed, cut at the
  # length a sample's tokens per byte give, then counted.
  text=${TEXT:-../shared/data/niah_paulgraham/PaulGrahamEssays}
  src=$work/text.txt
  : >"$src"
  while [ "$(wc -c <"$src")" -lt $((depth * 8)) ]; do
    before=$(wc -c <"$src")
    if [ -d "$text" ]; then cat "$text"/*.txt >>"$src"; else cat "$text" >>"$src"; fi
    [ "$(wc -c <"$src")" -gt "$before" ] || { echo "peak-rss: no text in $text" >&2; exit 1; }
  done
  head -c 20000 "$src" >"$work/sample.txt"
  per=$("$thinkv" tokenize -m "$model" -f "$work/sample.txt" --json | jq '.ids | length')
  head -c $((depth * 20000 / per)) "$src" >"$work/prompt.txt"
  tokens=$("$thinkv" tokenize -m "$model" -f "$work/prompt.txt" --json | jq '.ids | length')
  echo "$mode: $(basename "$model"), $tokens-token prompt, $n new tokens, $typ cache${chunk:+, chunks of $chunk}"
else
  tokens=$depth
  echo "$mode: $(basename "$model"), depth $depth, $n new tokens, $typ cache"
fi
ctx=$((tokens + n + 8))

# run PRESS: one run's JSON.
run() {
  if [ "$mode" = generate ]; then
    extra=()
    [ -n "$chunk" ] && [ "$1" != none ] && extra=(--chunked-compress --chunk "$chunk")
    "$thinkv" generate -m "$model" -f "$work/prompt.txt" --ctx "$ctx" -n "$n" --temp 0 --press "$1" --kv-type "$typ" "${extra[@]}" "${threads[@]}" --json |
      jq '{rss: .peak_rss_bytes, kv: .kv.bytes}'
  else
    "$thinkv" bench -m "$model" -p 0 -n "$n" --depth "$depth" --ctx "$ctx" -r 1 --press "$1" --kv-type "$typ" "${threads[@]}" --json |
      jq '{rss: .peak_rss_bytes, kv: .tests[-1].kv_bytes}'
  fi
}

# The collector's timing moves a peak by several percent from run to run:
# REPS runs per press (the presses taken in turn), their median and range.
reps=${REPS:-1}
printf '%-48s %12s %8s %16s %14s\n' press "peak RSS MB" "vs ${presses[0]}" "range MB" "KV bytes"
for ((r = 0; r < reps; r++)); do
  for i in "${!presses[@]}"; do run "${presses[$i]}" >>"$work/runs.$i"; done
done
first=""
for i in "${!presses[@]}"; do
  read -r med lo hi kv < <(jq -rs 'map(.rss) | sort as $s | "\($s[length / 2 | floor]) \($s[0]) \($s[-1])"' "$work/runs.$i" |
    tr '\n' ' '; jq -rs '.[-1].kv' "$work/runs.$i")
  first=${first:-$med}
  printf -v range '%.1f–%.1f' "$(jq -n "$lo / 1e6")" "$(jq -n "$hi / 1e6")"
  printf '%-48s %12.1f %8.3f %16s %14d\n' "${presses[$i]}" "$(jq -n "$med / 1e6")" "$(jq -n "$med / $first")" "$range" "$kv"
done
