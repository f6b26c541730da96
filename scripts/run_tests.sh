#!/usr/bin/env bash
# The test stages behind `make test`: lint, SQLite, PostgreSQL (throwaway cluster), browser.
#
#   scripts/run_tests.sh [lint] [sqlite] [postgresql] [browser]     (default: all four)
#
# Every stage runs even when an earlier one failed; the exit status is non-zero when any failed.
# pytest's exit code 5 ("no tests collected") counts as a pass for a stage that has no tests yet.
# PYTEST_ARGS replaces the default test selection (e.g. PYTEST_ARGS="tests/cases -k grading").
set -uo pipefail

cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY="$VENV/bin/python"
STAGES=("$@")
[ "${#STAGES[@]}" -eq 0 ] && STAGES=(lint sqlite postgresql browser)

declare -A RESULT
declare -A SECONDS_TAKEN
ORDER=()
FAILED=0

banner() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

# run_stage NAME CMD... : run, record pass/fail/skip and the time taken.
run_stage() {
    local name=$1
    shift
    local start=$SECONDS rc
    banner "$name"
    "$@"
    rc=$?
    if [ "$rc" -eq 5 ]; then
        echo "($name: no tests collected — counted as passed)"
        rc=0
    fi
    ORDER+=("$name")
    SECONDS_TAKEN[$name]=$((SECONDS - start))
    if [ "$rc" -eq 0 ]; then
        RESULT[$name]=passed
    elif [ "$rc" -eq 99 ]; then
        RESULT[$name]=skipped
    else
        RESULT[$name]="FAILED (exit $rc)"
        FAILED=1
    fi
}

pytest_cmd() {
    # shellcheck disable=SC2086
    "$PY" -m pytest -p no:cacheprovider -q -ra "$@"
}

default_selection() {
    if [ -n "${PYTEST_ARGS:-}" ]; then
        # shellcheck disable=SC2086
        echo $PYTEST_ARGS
    else
        echo "tests --ignore=tests/browser"
    fi
}

stage_lint() {
    # ruff, then the architecture: the layers contract in pyproject.toml (import-linter reads imports
    # inside functions too) and no import of another app inside a function body.
    "$VENV/bin/ruff" check . && "$VENV/bin/ruff" format --check . && "$VENV/bin/lint-imports" \
        && "$PY" -m pytest -q -p no:cacheprovider tests/architecture
}

stage_sqlite() {
    # An explicit SQLite URL, so that neither the environment nor a .env file points the tests elsewhere
    # (pytest-django runs them on an in-memory test database).
    # shellcheck disable=SC2046
    KESU_DATABASE_URL="sqlite:///$PWD/var/test.sqlite3" pytest_cmd $(default_selection)
}

stage_postgresql() {
    # shellcheck disable=SC2046
    scripts/pg_cluster.sh "$0" --pytest $(default_selection)
}

has_browser_tests() {
    [ -d tests/browser ] && [ -n "$(find tests/browser -name 'test_*.py' -print -quit)" ]
}

stage_browser() {
    if ! has_browser_tests; then
        echo "tests/browser has no tests yet — skipped"
        return 99
    fi
    scripts/browser_deps.sh || return $?
    # shellcheck disable=SC2086
    # Playwright's sync API runs an event loop in the test thread; Django must allow ORM calls there.
    KESU_DATABASE_URL="sqlite:///$PWD/var/test.sqlite3" KESU_TEST_DATABASE_FILE="$PWD/var/test-browser.sqlite3" \
        KESU_CHROMIUM="${KESU_CHROMIUM:-/usr/bin/chromium}" \
        DJANGO_ALLOW_ASYNC_UNSAFE=true \
        pytest_cmd tests/browser ${BROWSER_PYTEST_ARGS:-}
}

# Internal entry point: run pytest with the environment prepared by the caller.
if [ "${1:-}" = "--pytest" ]; then
    shift
    pytest_cmd "$@"
    exit $?
fi

for stage in "${STAGES[@]}"; do
    case "$stage" in
        lint) run_stage lint stage_lint ;;
        sqlite) run_stage sqlite stage_sqlite ;;
        postgresql | pg) run_stage postgresql stage_postgresql ;;
        browser) run_stage browser stage_browser ;;
        *) echo "unknown stage: $stage" >&2; exit 2 ;;
    esac
done

banner "summary"
for name in "${ORDER[@]}"; do
    printf '  %-11s %-22s %4ss\n' "$name" "${RESULT[$name]}" "${SECONDS_TAKEN[$name]}"
done
if [ "$FAILED" -ne 0 ]; then
    printf '\n\033[31mmake test: FAILED\033[0m\n'
    exit 1
fi
printf '\n\033[32mmake test: all stages passed\033[0m\n'
