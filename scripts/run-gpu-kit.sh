#!/usr/bin/env bash
# Runs f8net on this machine's GPU from the kit that scripts/gpu-kit.sh packed (f8net-gpu-kit.tar.gz
# beside this script); needs nothing installed but the GPU driver (its Vulkan ICD).
#
#   bash run-gpu-kit.sh [--results DIR] [--quick] [--filter RE] [-- MORE BENCH ARGS]
#
# Unpacks the kit beside this script (once), then runs, each into the results folder
# (default ./f8net-results-HOST-DATE):
#   info.txt, info.json        the adapter Dawn picked and its limits
#   selftest.txt               every kernel case against its CPU reference (where the build has it)
#   tune.json, cache/          the per-adapter kernel tuning (the cache the bench then uses)
#   bench.md, bench.json, bench.png, bench.log    the benchmark table, its data, the chart, progress
#   summary.txt                one line per step with its exit code
# and packs the folder as DIR.tar.gz to send back. The Vulkan loader comes from the system when
# it has one, else from the kit (vulkan/libvulkan.so.1; the .deb beside it installs it for good).
# Exit codes: 0 every step passed, 1 a step failed (summary.txt says which), 2 bad usage, 130 interrupt.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
results=""
quick=()
filter=()
extra=()

die() { echo "run-gpu-kit: error: $*" >&2; exit "${2:-1}"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --results) [ $# -ge 2 ] || die "--results needs a folder" 2; results="$2"; shift 2 ;;
    --quick) quick=(--quick); shift ;;
    --filter) [ $# -ge 2 ] || die "--filter needs a regular expression" 2; filter=(--filter "$2"); shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (expected --results DIR, --quick, --filter RE, -- BENCH ARGS)" 2 ;;
  esac
done
trap 'echo "run-gpu-kit: interrupted" >&2; exit 130' INT TERM

tarball="$here/f8net-gpu-kit.tar.gz"
kit="$here/f8net-gpu-kit"
[ -f "$tarball" ] || die "$tarball not found: keep run-gpu-kit.sh beside the kit" 2
stamp="$(cksum < "$tarball")"
if [ ! -f "$kit/.stamp" ] || [ "$(cat "$kit/.stamp")" != "$stamp" ]; then
  echo "run-gpu-kit: unpacking $tarball" >&2
  tmp="$(mktemp -d "$here/.unpack-XXXXXX")" || die "cannot write in $here"
  tar -C "$tmp" -xzf "$tarball" || { rm -rf "$tmp"; die "$tarball: not a readable kit"; }
  echo "$stamp" > "$tmp/f8net-gpu-kit/.stamp"
  rm -rf "$kit.old"
  [ -d "$kit" ] && mv "$kit" "$kit.old"
  mv "$tmp/f8net-gpu-kit" "$kit" && rm -rf "$tmp" "$kit.old"
fi

node="$kit/bin/node"
lib="$kit/lib/f8net.mjs"
if ! { ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; } && [ ! -e /usr/lib/x86_64-linux-gnu/libvulkan.so.1 ]; then
  echo "run-gpu-kit: no system Vulkan loader; using the kit's ($kit/vulkan/libvulkan.so.1)" >&2
  export LD_LIBRARY_PATH="$kit/vulkan${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

[ -n "$results" ] || results="$PWD/f8net-results-$(hostname -s 2>/dev/null || echo host)-$(date -u +%Y%m%dT%H%M%SZ)"
[ -e "$results" ] && die "--results $results already exists; give a new folder" 2
mkdir -p "$results" || die "cannot create $results"
export F8NET_CACHE_DIR="$results/cache"
summary="$results/summary.txt"
failed=0

# step NAME STDOUT-FILE STDERR-FILE ARGS...: runs f8net, records its exit code.
step() {
  local name="$1" so="$2" se="$3"
  shift 3
  echo "run-gpu-kit: f8net $*" >&2
  "$node" "$lib" "$@" > "$so" 2> "$se"
  local rc=$?
  [ "$rc" -eq 130 ] && exit 130
  echo "$name: exit $rc ($*)" >> "$summary"
  [ "$rc" -eq 0 ] || { failed=1; echo "run-gpu-kit: $name failed (exit $rc); see $se" >&2; }
}

{ echo "kit: $(basename "$tarball") $stamp"; echo "host: $(uname -a)"; echo "date: $(date -u +%FT%TZ)"; } > "$summary"
step info "$results/info.txt" "$results/info.txt.err" info
step info-json "$results/info.json" "$results/info.json.err" info --json
# The command list decides: `f8net selftest --help` would print the general help for an unknown command.
if "$node" "$lib" --help 2>/dev/null | grep -qE '^  selftest( |$)'; then
  step selftest "$results/selftest.txt" "$results/selftest.err" selftest
else
  echo "selftest: not in this build of f8net (no selftest command)" | tee "$results/selftest.txt" >> "$summary"
fi
step tune "$results/tune.json" "$results/tune.log" tune --json "${quick[@]}"
step bench "$results/bench.md" "$results/bench.log" bench "${quick[@]}" "${filter[@]}" --json "$results/bench.json" --png "$results/bench.png" "${extra[@]}"
# Empty stderr files say nothing; keep the folder readable.
find "$results" -maxdepth 1 -name '*.err' -size 0 -delete

tar -C "$(dirname "$results")" -czf "$results.tar.gz.tmp" "$(basename "$results")" && mv -f "$results.tar.gz.tmp" "$results.tar.gz"
echo "run-gpu-kit: results in $results (packed: $results.tar.gz)" >&2
cat "$summary" >&2
exit "$failed"
