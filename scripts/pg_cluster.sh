#!/usr/bin/env bash
# Run a command against a throwaway PostgreSQL cluster.
#
#   scripts/pg_cluster.sh CMD [ARGS...]
#
# Initialises a cluster in a fresh temp dir on a free port, starts it, runs CMD with
#   KESU_DATABASE_URL=postgresql://postgres@127.0.0.1:$PORT/postgres   (also exported as KESU_PG_URL)
# and always stops and removes the cluster afterwards (also when CMD fails or is interrupted).
# The exit status is CMD's. As root, initdb/pg_ctl run as the `postgres` user via runuser
# (initdb refuses to run as root); as another user they run directly.
#
# PG_OPTIONAL=1 runs CMD without a cluster (and without KESU_PG_URL) when PostgreSQL is not installed.
# PGBIN overrides the binaries' directory (default: /usr/lib/postgresql/15/bin, else the newest
# /usr/lib/postgresql/*/bin, else `pg_config --bindir`).
set -euo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: $0 CMD [ARGS...]" >&2
    exit 2
fi

find_pgbin() {
    if [ -n "${PGBIN:-}" ]; then echo "$PGBIN"; return; fi
    if [ -x /usr/lib/postgresql/15/bin/initdb ]; then echo /usr/lib/postgresql/15/bin; return; fi
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -n "$d" ] && [ -x "$d/initdb" ]; then echo "$d"; return; fi
    if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
        pg_config --bindir; return
    fi
    echo ""
}

PGBIN=$(find_pgbin)
if [ -z "$PGBIN" ]; then
    echo "pg_cluster: PostgreSQL server binaries not found (install postgresql-15, or set PGBIN)" >&2
    if [ "${PG_OPTIONAL:-0}" = "1" ]; then
        echo "pg_cluster: PG_OPTIONAL=1 — running without PostgreSQL" >&2
        exec "$@"
    fi
    exit 3
fi

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

if [ "$(id -u)" -eq 0 ]; then
    AS_PG=(runuser -u postgres --)
else
    AS_PG=()
fi

PGTMP=$(mktemp -d "${TMPDIR:-/tmp}/kesu-pg.XXXXXX")
STARTED=0

cleanup() {
    local rc=$?
    if [ "$STARTED" -eq 1 ]; then
        "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGTMP/data" -m fast -w stop >/dev/null 2>&1 || \
            "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGTMP/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$PGTMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "$(id -u)" -eq 0 ]; then
    chown postgres:postgres "$PGTMP"
fi

"${AS_PG[@]}" "$PGBIN/initdb" -D "$PGTMP/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync \
    >"$PGTMP/initdb.log" 2>&1 || { cat "$PGTMP/initdb.log" >&2; echo "pg_cluster: initdb failed" >&2; exit 3; }

# A port can be taken between probing and binding: try a few.
for attempt in 1 2 3 4 5; do
    PORT=$(free_port)
    if "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGTMP/data" -l "$PGTMP/server.log" -w -t 60 \
        -o "-p $PORT -k $PGTMP -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100" \
        start >/dev/null 2>&1; then
        STARTED=1
        break
    fi
done
if [ "$STARTED" -ne 1 ]; then
    cat "$PGTMP/server.log" >&2 || true
    echo "pg_cluster: could not start PostgreSQL" >&2
    exit 3
fi

export KESU_DATABASE_URL="postgresql://postgres@127.0.0.1:$PORT/postgres"
export KESU_PG_URL="$KESU_DATABASE_URL"
echo "pg_cluster: PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT ($PGTMP)" >&2

set +e
"$@"
rc=$?
set -e
exit "$rc"
