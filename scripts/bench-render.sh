#!/usr/bin/env bash
# Load figure for POST /v1/render/added-to-cart: wrk against the real route
# and against a same-process handler writing precomputed bytes of the same
# size (see TestWrkRender in httpapi/wrk_test.go). Prints both and the ratio.
#   scripts/bench-render.sh            # 10s per run, 16 connections
#   SNIPPETD_WRK_DURATION=20s SNIPPETD_WRK_CONNECTIONS=32 scripts/bench-render.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
SNIPPETD_WRK=1 go test ./internal/httpapi -run '^TestWrkRender$' -count=1 -v -timeout 10m
