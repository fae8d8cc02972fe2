#!/usr/bin/env bash
# Install what netfeed needs on a fresh machine; safe to run again (does only what is missing).
#
#   scripts/setup.sh python   a virtualenv in .venv with netfeed and its test/dev extras,
#                             at the versions in requirements.lock (scripts/lock updates it)
#   scripts/setup.sh system   Java 17, Maven and openssl (the test Kafka broker), net-snmp tools,
#                             netconfd + openssh-server (a real NETCONF server for tests),
#                             docker-compose (validates docker-compose.yml; no engine needed)
#   scripts/setup.sh all      both
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
what="${1:-all}"
log() { echo "setup.sh: $*" >&2; }

system() {
    local missing=()
    command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
    command -v mvn >/dev/null || missing+=(maven)
    # the test broker's SASL_SSL listener: its CA, certificate and password
    command -v openssl >/dev/null || missing+=(openssl)
    command -v snmpget >/dev/null || missing+=(snmp)
    [[ -x /usr/sbin/snmpd ]] || command -v snmpd >/dev/null || missing+=(snmpd)
    # a real NETCONF server for the tests: yuma123's netconfd behind a loopback sshd
    [[ -x /usr/sbin/netconfd ]] || command -v netconfd >/dev/null || missing+=(netconfd)
    [[ -x /usr/sbin/sshd ]] || missing+=(openssh-server)
    # docker-compose.yml checked against the Compose specification (`docker-compose
    # config` needs no Docker engine; tests/deploy/test_compose.py)
    command -v docker-compose >/dev/null || missing+=(docker-compose)
    # a throwaway PostgreSQL cluster for the store application's tests (scripts/postgres.sh)
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
    if ((${#missing[@]})); then
        log "installing ${missing[*]}"
        local sudo=""
        [[ $(id -u) == 0 ]] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    fi
}

python_env() {
    local py="${PYTHON3:-python3}"
    "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || { log "Python >= 3.11 needed ($py is $("$py" --version 2>&1))"; exit 1; }
    [[ -x .venv/bin/python ]] || { log "creating .venv"; "$py" -m venv .venv; }
    # The versions tested are locked: pyproject.toml keeps ranges, requirements.lock
    # pins every package (scripts/lock regenerates it).  Reinstall only when either
    # file changed since the last install; the stamp is written only on success.
    local lock=requirements.lock stamp=.venv/.netfeed-installed want
    [[ -f $lock ]] || { log "$lock missing (scripts/lock makes it)"; exit 1; }
    want="$(cat pyproject.toml "$lock" | sha256sum | cut -d' ' -f1)"
    if [[ ! -f $stamp || "$(cat "$stamp")" != "$want" ]]; then
        log "installing netfeed and its Python dependencies (pinned by $lock) into .venv"
        .venv/bin/python -m pip install -q --upgrade pip >&2
        .venv/bin/python -m pip install -q -c "$lock" -e ".[test,dev]" >&2
        echo "$want" >"$stamp"
    fi
}

case "$what" in
    python) python_env ;;
    system) system ;;
    all) system; python_env ;;
    *) log "usage: $0 [python|system|all]"; exit 2 ;;
esac
