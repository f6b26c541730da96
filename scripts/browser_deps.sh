#!/usr/bin/env bash
# Make sure the browser tests can run offline: Debian's Chromium, a CJK font, and the Playwright
# Python package (which drives /usr/bin/chromium; `playwright install` is never run).
# System packages are installed with apt only when missing, and only as root.
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
CHROMIUM=${KESU_CHROMIUM:-/usr/bin/chromium}
PLAYWRIGHT_SPEC=${PLAYWRIGHT_SPEC:-playwright>=1.45,<2}

need=()
[ -x "$CHROMIUM" ] || need+=(chromium)
if ! fc-list 2>/dev/null | grep -qiE 'Noto Sans CJK|Noto Serif CJK|WenQuanYi|wqy'; then
    need+=(fonts-wqy-microhei)
    command -v fc-list >/dev/null 2>&1 || need+=(fontconfig)
fi

if [ "${#need[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "browser_deps: missing ${need[*]}; install them with: sudo apt-get install -y --no-install-recommends ${need[*]}" >&2
        exit 1
    fi
    echo "browser_deps: installing ${need[*]} (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if ! "$VENV/bin/python" -c 'import playwright' 2>/dev/null; then
    echo "browser_deps: pip install $PLAYWRIGHT_SPEC"
    "$VENV/bin/pip" install -q "$PLAYWRIGHT_SPEC"
fi
echo "browser_deps: $("$CHROMIUM" --version 2>/dev/null || echo chromium), playwright $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("playwright"))')"
