#!/usr/bin/env bash
# Back-to-back comparison of two revisions of the proxy under the same wrk
# load as scripts/bench-proxy.sh (ingest only; events in the properties
# form, which every revision accepts, or SNIPPETD_BENCH_FORM=input):
# builds each revision in a temporary worktree, then alternates them,
# reporting req/s, latency and the server's CPU time per request (from
# /proc), which varies less than req/s on a shared machine.
#   scripts/bench-proxy-ab.sh 3f91414 HEAD
#   SNIPPETD_WRK_DURATION=10s SNIPPETD_WRK_ROUNDS=3 scripts/bench-proxy-ab.sh A B
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/proxy-wrk.sh
[ $# -eq 2 ] || { echo "usage: $0 <revision A> <revision B>" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
DUR=${SNIPPETD_WRK_DURATION:-8s}
ROUNDS=${SNIPPETD_WRK_ROUNDS:-2}
PORT=${SD_PORT:-18471}
FORM=${SNIPPETD_BENCH_FORM:-properties}
tmp=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  wait 2>/dev/null || true
  for rev in a b; do git worktree remove --force "$tmp/src-$rev" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
revs=("$1" "$2")
for i in 0 1; do
  git worktree add -q --detach "$tmp/src-$i" "${revs[$i]}"
  (cd "$tmp/src-$i" && go build -o "$tmp/snippetd-$i" ./cmd/snippetd)
done

write_proxy_lua "$tmp/post.lua" "$FORM" 1

echo "wrk -t2 -c64 -d$DUR, $FORM form, $ROUNDS alternating rounds, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-6s %-12s %10s %9s %9s %14s\n' round revision req/s p50 p99 cpu-us/request
for r in $(seq "$ROUNDS"); do
  for i in 0 1; do
    rm -rf "$tmp/data"
    SNIPPETD_PRIVATE_KEY=pk_bench SNIPPETD_KLAVIYO_URL=http://127.0.0.1:1 SNIPPETD_PROXY=on \
    SNIPPETD_PUBLIC_KEY=ABC123 SNIPPETD_ALLOWED_ORIGINS=https://shop.example SNIPPETD_PROXY_RATE=1000000 \
    SNIPPETD_PROXY_BURST=1000000 SNIPPETD_DATA_DIR="$tmp/data" SNIPPETD_LOG_LEVEL=error \
    SNIPPETD_KLAVIYO_STATIC_URL=http://127.0.0.1:1 SNIPPETD_ADDR=127.0.0.1:$PORT "$tmp/snippetd-$i" serve &
    pid=$!
    for _ in $(seq 300); do curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.1; done
    t0=$(awk '{print $14+$15}' "/proc/$pid/stat")
    out=$(wrk -t2 -c64 -d"$DUR" --latency -s "$tmp/post.lua" "http://127.0.0.1:$PORT")
    t1=$(awk '{print $14+$15}' "/proc/$pid/stat")
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
    reqs=$(awk '/requests in/ {print $1}' <<<"$out")
    printf '%-6s %-12s %10s %9s %9s %14s\n' "$r" "${revs[$i]}" "$(awk '/^Requests\/sec/ {print $2}' <<<"$out")" \
      "$(awk '$1=="50%" {print $2}' <<<"$out")" "$(awk '$1=="99%" {print $2}' <<<"$out")" \
      "$(awk -v a="$t0" -v b="$t1" -v n="$reqs" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.1f", (b-a)/hz*1e6/n}')"
  done
done
