#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests (the store application's
# PostgreSQL target), from Debian's postgresql package, on loopback only.
#   scripts/postgres.sh start   prints NETFEED_PG_DSN_FILE=<file holding the DSN>
#   scripts/postgres.sh stop
# The cluster lives in $NETFEED_RUN/postgres (default /tmp/netfeed-run), port
# $NETFEED_PG_PORT (15432).  initdb and pg_ctl refuse to run as root, so as
# root they run as the `postgres` user.  The password is random per cluster,
# kept in a file (never on a command line); the DSN is in a file too.
set -euo pipefail
run="${NETFEED_RUN:-/tmp/netfeed-run}/postgres"
port="${NETFEED_PG_PORT:-15432}"
bin="$(compgen -G "/usr/lib/postgresql/*/bin" | sort -V | tail -1 || true)"
log() { echo "postgres.sh: $*" >&2; }
[[ -n "$bin" && -x "$bin/initdb" ]] || { log "PostgreSQL is not installed (scripts/setup.sh system)"; exit 1; }
as_pg() {
    if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}
data="$run/data"
case "${1:-}" in
start)
    mkdir -p "$run"
    chmod 755 "$run" "$(dirname "$run")"
    if [[ ! -s "$run/password" ]]; then
        head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$run/password"
    fi
    [[ $(id -u) == 0 ]] && chown postgres "$run" "$run/password"
    if [[ ! -f "$data/PG_VERSION" ]]; then
        rm -rf "$data"
        as_pg "$bin/initdb" -D "$data" -U netfeed --auth=scram-sha-256 \
            --pwfile="$run/password" -E UTF8 >"$run/initdb.log" 2>&1 \
            || { cat "$run/initdb.log" >&2; exit 1; }
    fi
    if ! as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        as_pg "$bin/pg_ctl" -D "$data" -l "$run/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $port -k $run -c fsync=on" start >&2 \
            || { tail -20 "$run/server.log" >&2; exit 1; }
    fi
    pw="$(cat "$run/password")"
    umask 077
    echo "postgresql://netfeed:$pw@127.0.0.1:$port/postgres" >"$run/dsn"
    echo "NETFEED_PG_DSN_FILE=$run/dsn"
    ;;
stop)
    if [[ -f "$data/PG_VERSION" ]]; then
        as_pg "$bin/pg_ctl" -D "$data" -m fast -w stop >&2 || true
    fi
    ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
