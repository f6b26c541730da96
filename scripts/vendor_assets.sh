#!/bin/sh
# Copy the web UI's JavaScript libraries from node_modules (installed by `npm ci` from the pinned
# package-lock.json) into kesu/web/static/vendor/ (git-ignored). No CDN, no download at run time.
# Usage: npm ci --no-audit --no-fund && sh scripts/vendor_assets.sh
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NM="$ROOT/node_modules"
OUT="$ROOT/kesu/web/static/vendor"
for f in "$NM/htmx.org/dist/htmx.min.js" "$NM/echarts/dist/echarts.min.js"; do
  if [ ! -f "$f" ]; then
    echo "vendor_assets: $f is missing; run 'npm ci' first" >&2
    exit 1
  fi
done
mkdir -p "$OUT"
cp "$NM/htmx.org/dist/htmx.min.js" "$OUT/htmx.min.js"
cp "$NM/echarts/dist/echarts.min.js" "$OUT/echarts.min.js"
cp "$NM/htmx.org/LICENSE" "$OUT/htmx.LICENSE" 2>/dev/null || true
cp "$NM/echarts/LICENSE" "$OUT/echarts.LICENSE" 2>/dev/null || true
echo "vendor_assets: htmx $(node -p "require('$NM/htmx.org/package.json').version" 2>/dev/null || echo '?'), echarts $(node -p "require('$NM/echarts/package.json').version" 2>/dev/null || echo '?') -> $OUT"
