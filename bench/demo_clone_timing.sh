#!/bin/bash
# `make demo` from a fresh clone to the first page, phase by phase, in CPU seconds (issue 19).
#
#   bench/demo_clone_timing.sh SRC_REPO CLONE_DIR PORT LOG_PREFIX [split|all]
#
# Clones SRC_REPO into CLONE_DIR (removed first) and runs the steps of `make demo` one by one under
# /usr/bin/time -v (user+sys CPU, children included): install (make install-app, or make install where
# the Makefile has no install-app), assets, migrate, demo data (split: `demo_data --first 300` as
# `make demo` runs it; all: `make demo-data`), then `make serve` until GET / answers 200 (then stopped),
# and in split mode the background part: `manage.py worker --batch` until the queue is empty.
# Writes LOG_PREFIX.summary (one line per phase) and LOG_PREFIX.uptime (the machine's load before and
# after). Wall times move with the machine's load; compare CPU.
set -u
SRC=$1; DIR=$2; PORT=$3; LOG=$4; MODE=${5:-split}
rm -rf "$DIR"; : > "$LOG.summary"
uptime > "$LOG.uptime"
T0=$(date +%s.%N)
git clone -q "$SRC" "$DIR" && cd "$DIR" || exit 1
phase() {
  local name=$1; shift; local s; s=$(date +%s.%N)
  /usr/bin/time -v -o "$LOG.$name.time" "$@" > "$LOG.$name.out" 2>&1; local rc=$?
  local e; e=$(date +%s.%N)
  echo "$name rc=$rc wall=$(echo "$e - $s" | bc) $(grep -E 'User time|System time' "$LOG.$name.time" | awk -F: '{printf "%s=%s ", $1, $2}')" >> "$LOG.summary"
}
if grep -q '^install-app:' Makefile; then phase install make install-app; else phase install make install; fi
phase assets make assets
phase migrate make migrate
if [ "$MODE" = split ]; then
  phase demodata .venv/bin/python manage.py demo_data --skip-checks --preset insurance --first 300
else
  phase demodata make demo-data
fi
S=$(date +%s.%N)
setsid make serve HOST=127.0.0.1 PORT="$PORT" > "$LOG.serve.out" 2>&1 &
SP=$!
code=000
for _ in $(seq 1 600); do
  code=$(curl -s -o /dev/null -w '%{http_code}' -L "http://127.0.0.1:$PORT/" 2>/dev/null)
  [ "$code" = 200 ] && break; sleep 0.5
done
E=$(date +%s.%N)
echo "firstpage code=$code wall=$(echo "$E - $S" | bc) total_wall=$(echo "$E - $T0" | bc)" >> "$LOG.summary"
kill -TERM -- -"$SP"; sleep 3; kill -KILL -- -"$SP" 2>/dev/null; wait "$SP" 2>/dev/null
uptime >> "$LOG.uptime"
if [ "$MODE" = split ]; then
  phase background .venv/bin/python manage.py worker --batch
fi
cat "$LOG.summary"
