#!/usr/bin/env bash
# Load figure for the first-party proxy: wrk POSTs one-event batches to
# {prefix}e of a real snippetd (proxy on, SQLite outbox with
# synchronous=FULL, the outbox loop delivering to the local sink), and the
# same requests to nginx proxy_pass in front of a trivial upstream (nginx
# answering 202) on the same machine, alternating, in the same run. Then it
# checks that the outbox holds at least as many events as wrk saw accepted.
#   scripts/bench-proxy.sh                      # 2 rounds of 15s, 64 connections
#   SNIPPETD_WRK_DURATION=30s SNIPPETD_WRK_ROUNDS=3 scripts/bench-proxy.sh
#   SNIPPETD_BENCH_EVENTS=5 scripts/bench-proxy.sh   # 5 events per request
#   SNIPPETD_BENCH_DELIVERY=off scripts/bench-proxy.sh # ingest only: Klaviyo
#     unreachable, so the delivery loop backs off instead of sharing the writer
#   SNIPPETD_BENCH_FORM=properties scripts/bench-proxy.sh # events carrying
#     Klaviyo properties instead of what the helper sends (the render API's
#     inputs, from which the proxy builds the properties)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/proxy-wrk.sh
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
NGINX=${NGINX:-/usr/sbin/nginx}
[ -x "$NGINX" ] || { echo "nginx is needed at $NGINX (apt-get install nginx-light)" >&2; exit 1; }
DUR=${SNIPPETD_WRK_DURATION:-15s}
CONN=${SNIPPETD_WRK_CONNECTIONS:-64}
ROUNDS=${SNIPPETD_WRK_ROUNDS:-2}
EVENTS=${SNIPPETD_BENCH_EVENTS:-1}
FORM=${SNIPPETD_BENCH_FORM:-input}
SD_PORT=${SD_PORT:-18461} NGX_PORT=${NGX_PORT:-18462} UP_PORT=${UP_PORT:-18463}

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/snippetd" ./cmd/snippetd

# snippetd with the proxy on; no private key, so the outbox delivers to the
# local sink (nothing leaves the machine) while the benchmark runs.
sd_env=()
if [ "${SNIPPETD_BENCH_DELIVERY:-on}" = off ]; then
  sd_env=(SNIPPETD_PRIVATE_KEY=pk_bench SNIPPETD_KLAVIYO_URL=http://127.0.0.1:1)
fi
env "${sd_env[@]}" SNIPPETD_PROXY=on SNIPPETD_PUBLIC_KEY=ABC123 SNIPPETD_ALLOWED_ORIGINS=https://shop.example \
SNIPPETD_PROXY_RATE=1000000 SNIPPETD_PROXY_BURST=1000000 SNIPPETD_DATA_DIR="$tmp/data" \
SNIPPETD_LOG_LEVEL=error SNIPPETD_ADDR=127.0.0.1:$SD_PORT "$tmp/snippetd" serve &
pids+=($!)

mkdir -p "$tmp/ngx/logs"
cat >"$tmp/ngx/nginx.conf" <<NGX
daemon off;
worker_processes auto;
pid $tmp/ngx/nginx.pid;
error_log $tmp/ngx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $tmp/ngx/body;
  proxy_temp_path $tmp/ngx/proxy;
  fastcgi_temp_path $tmp/ngx/fastcgi;
  uwsgi_temp_path $tmp/ngx/uwsgi;
  scgi_temp_path $tmp/ngx/scgi;
  upstream trivial { server 127.0.0.1:$UP_PORT; keepalive 64; }
  server {
    listen 127.0.0.1:$NGX_PORT;
    location / {
      proxy_pass http://trivial;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    }
  }
  server {
    listen 127.0.0.1:$UP_PORT;
    location / { return 202 '{"accepted":1,"dropped":0}\n'; }
  }
}
NGX
"$NGINX" -p "$tmp/ngx" -e "$tmp/ngx/logs/error.log" -c "$tmp/ngx/nginx.conf" &
pids+=($!)

for port in $SD_PORT $NGX_PORT; do
  for i in $(seq 300); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
done

write_proxy_lua "$tmp/post.lua" "$FORM" "$EVENTS"

run() { # name port -> "rps p50 p99 requests non2xx"
  local out
  out=$(wrk -t2 -c"$CONN" -d"$DUR" --latency -s "$tmp/post.lua" "http://127.0.0.1:$2")
  echo "$out" >"$tmp/wrk-$1.txt"
  local rps p50 p99 reqs bad
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  bad=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  echo "$rps $p50 $p99 $reqs ${bad:-0}"
}

echo "wrk -t2 -c$CONN -d$DUR, $EVENTS event(s) per request ($FORM form), delivery ${SNIPPETD_BENCH_DELIVERY:-on}, $ROUNDS alternating rounds, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %-6s %12s %10s %10s %10s %8s\n' round target req/s p50 p99 requests non-2xx
accepted=0
best_sd=0 best_ngx=0
for r in $(seq "$ROUNDS"); do
  read -r rps p50 p99 reqs bad < <(run nginx $NGX_PORT)
  printf '%-8s %-6s %12s %10s %10s %10s %8s\n' "$r" nginx "$rps" "$p50" "$p99" "$reqs" "$bad"
  best_ngx=$(awk -v a="$best_ngx" -v b="$rps" 'BEGIN{print (b>a)?b:a}')
  read -r rps p50 p99 reqs bad < <(run snippetd $SD_PORT)
  printf '%-8s %-6s %12s %10s %10s %10s %8s\n' "$r" proxy "$rps" "$p50" "$p99" "$reqs" "$bad"
  best_sd=$(awk -v a="$best_sd" -v b="$rps" 'BEGIN{print (b>a)?b:a}')
  accepted=$((accepted + (reqs - bad) * EVENTS))
done
echo "best proxy / best nginx = $(awk -v a="$best_sd" -v b="$best_ngx" 'BEGIN{printf "%.2f", a/b}') (requests/s); proxy events/s = $(awk -v a="$best_sd" -v e="$EVENTS" 'BEGIN{printf "%.0f", a*e}')"

# Durability: every event wrk saw answered 202 must be in the outbox.
sleep 1
status=$(SNIPPETD_DATA_DIR="$tmp/data" "$tmp/snippetd" outbox status -json | tr ',{}' '\n\n\n')
stored=$(awk -F: '/"(pending|delivered|dead|in_flight|sending)"/ {s+=$2} END {print s+0}' <<<"$status")
delivered=$(awk -F: '/"delivered"/ {s+=$2} END {print s+0}' <<<"$status")
echo "events acknowledged by wrk's count: $accepted; in the outbox: $stored (delivered meanwhile: $delivered)"
[ "$stored" -ge "$accepted" ] || { echo "FAIL: the outbox holds fewer events than were acknowledged" >&2; exit 1; }
