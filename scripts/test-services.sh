#!/usr/bin/env bash
# Start or stop the servers the test suite needs: Redis 7, a Redis Cluster and PostgreSQL.
#
#   scripts/test-services.sh start    install (apt-get) if missing, start, write var/test-services/env
#   scripts/test-services.sh stop     stop them all
#   scripts/test-services.sh status   say what is running
#
# Made for `make test` on a fresh Debian 12 machine running as root, without stdin (CI).
# `start` is idempotent (running servers are reused) and prints nothing unless something fails.
# The Makefile sources var/test-services/env, which exports HUB_TEST_REDIS_URL,
# HUB_TEST_REDIS_CLUSTER_URL and HUB_TEST_POSTGRES_URL. Ports and the PostgreSQL cluster
# directory can be moved with the environment variables below (HUB_TEST_REDIS_PORT,
# HUB_TEST_REDIS_CLUSTER_PORT, HUB_TEST_PG_PORT, HUB_TEST_PG_DIR); `stop` and `status` need the
# same ones. The Redis Cluster is three masters on loopback, no replicas, on the ports from
# HUB_TEST_REDIS_CLUSTER_PORT (default: the Redis port + 1000, so 7390-7392, and a run that
# moves HUB_TEST_REDIS_PORT moves its cluster too); their cluster bus uses those ports + 10000.
# Data is throwaway: Redis keeps none, PostgreSQL runs with fsync off.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
STATE="${ROOT}/var/test-services"
REDIS_DIR="${STATE}/redis"
REDIS_PORT="${HUB_TEST_REDIS_PORT:-6390}"
CLUSTER_PORT="${HUB_TEST_REDIS_CLUSTER_PORT:-$((REDIS_PORT + 1000))}"
CLUSTER_PORTS=("${CLUSTER_PORT}" "$((CLUSTER_PORT + 1))" "$((CLUSTER_PORT + 2))")
CLUSTER_DIR="${STATE}/redis-cluster"
PG_PORT="${HUB_TEST_PG_PORT:-5433}"
# The cluster must belong to the postgres user (initdb refuses root) and every directory above
# it must be traversable by that user, so it lives under /tmp rather than in the checkout.
PG_DIR="${HUB_TEST_PG_DIR:-/tmp/hub-test-pg}"
PG_DB="hub_test"
ENV_FILE="${STATE}/env"

die() {
    echo "test-services: $*" >&2
    exit 1
}

as_postgres() {
    # cd / first: the postgres user may not be allowed into the caller's directory.
    (cd / && runuser -u postgres -- "$@")
}

pg_bin_dir() {
    local dir
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    if [[ -n "${dir}" && -x "${dir}/initdb" ]]; then
        echo "${dir}"
    elif command -v initdb >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
    fi
}

install_missing() {
    local packages=()
    command -v redis-server >/dev/null 2>&1 || packages+=(redis-server)
    # redis-server depends on redis-tools today; ask for it in case that ever changes.
    command -v redis-cli >/dev/null 2>&1 || packages+=(redis-tools)
    [[ -n "$(pg_bin_dir)" ]] || packages+=(postgresql)
    [[ ${#packages[@]} -eq 0 ]] && return 0
    [[ "$(id -u)" -eq 0 ]] || die "missing ${packages[*]}; install them or run this as root"
    local log="${STATE}/apt.log"
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update -q && apt-get install -y -q --no-install-recommends "${packages[@]}"; } \
        </dev/null >"${log}" 2>&1; then
        cat "${log}" >&2
        die "apt-get install ${packages[*]} failed"
    fi
}

redis_cli() {
    redis-cli -h 127.0.0.1 -p "${REDIS_PORT}" "$@"
}

redis_up() {
    [[ "$(redis_cli ping 2>/dev/null || true)" == "PONG" ]]
}

start_redis() {
    if redis_up; then
        # Reuse it only if it is ours: another service on that port would get its data flushed.
        local dir
        dir="$(redis_cli config get dir 2>/dev/null | tail -n 1 || true)"
        [[ "${dir}" == "${REDIS_DIR}" ]] ||
            die "port ${REDIS_PORT} answers as a Redis that is not ours (dir ${dir}); set HUB_TEST_REDIS_PORT"
        return 0
    fi
    mkdir -p "${REDIS_DIR}"
    redis-server --bind 127.0.0.1 --port "${REDIS_PORT}" --daemonize yes \
        --dir "${REDIS_DIR}" --pidfile "${REDIS_DIR}/redis.pid" --logfile "${REDIS_DIR}/redis.log" \
        --save "" --appendonly no >/dev/null 9>&- ||
        die "redis-server did not start; see ${REDIS_DIR}/redis.log"
    for _ in $(seq 100); do
        redis_up && return 0
        sleep 0.1
    done
    tail -n 20 "${REDIS_DIR}/redis.log" >&2 || true
    die "redis-server is not answering on 127.0.0.1:${REDIS_PORT}"
}

stop_redis() {
    if redis_up; then
        redis_cli shutdown nosave >/dev/null 2>&1 || true
    fi
    local pid
    pid="$(cat "${REDIS_DIR}/redis.pid" 2>/dev/null || true)"
    if [[ -n "${pid}" ]] && kill -0 "${pid}" 2>/dev/null; then
        kill "${pid}" 2>/dev/null || true
    fi
    for _ in $(seq 100); do
        redis_up || return 0
        sleep 0.1
    done
    die "redis-server on port ${REDIS_PORT} did not stop"
}

# --- Redis Cluster: three masters, each in CLUSTER_DIR/<port> ----------------------------------

node_cli() {
    local port="$1"
    shift
    redis-cli -h 127.0.0.1 -p "${port}" "$@"
}

node_up() {
    [[ "$(node_cli "$1" ping 2>/dev/null || true)" == "PONG" ]]
}

node_is_ours() {
    local dir
    dir="$(node_cli "$1" config get dir 2>/dev/null | tail -n 1 || true)"
    [[ "${dir}" == "${CLUSTER_DIR}/$1" ]]
}

cluster_ok() {
    local port
    for port in "${CLUSTER_PORTS[@]}"; do
        node_cli "${port}" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
        [[ "$(node_cli "${port}" cluster info 2>/dev/null |
            sed -n 's/^cluster_known_nodes:\([0-9]*\).*/\1/p')" == "3" ]] || return 1
    done
}

stop_cluster() {
    local port pid
    for port in "${CLUSTER_PORTS[@]}"; do
        # Only our own nodes: a port answering from another directory is someone else's.
        if node_up "${port}" && node_is_ours "${port}"; then
            node_cli "${port}" shutdown nosave >/dev/null 2>&1 || true
        fi
        pid="$(cat "${CLUSTER_DIR}/${port}/redis.pid" 2>/dev/null || true)"
        if [[ -n "${pid}" ]] && kill -0 "${pid}" 2>/dev/null &&
            grep -q redis-server "/proc/${pid}/cmdline" 2>/dev/null; then
            kill "${pid}" 2>/dev/null || true
        fi
    done
    for port in "${CLUSTER_PORTS[@]}"; do
        for _ in $(seq 100); do
            node_up "${port}" && node_is_ours "${port}" || break
            sleep 0.1
        done
        ! { node_up "${port}" && node_is_ours "${port}"; } ||
            die "Redis Cluster node on port ${port} did not stop"
    done
}

start_cluster() {
    local port
    if cluster_ok; then
        for port in "${CLUSTER_PORTS[@]}"; do
            node_is_ours "${port}" ||
                die "port ${port} answers as a Redis Cluster node that is not ours; set HUB_TEST_REDIS_CLUSTER_PORT"
        done
        return 0
    fi
    for port in "${CLUSTER_PORTS[@]}"; do
        if node_up "${port}" && ! node_is_ours "${port}"; then
            die "port ${port} answers as a Redis that is not ours; set HUB_TEST_REDIS_CLUSTER_PORT"
        fi
    done
    # Half there (a node died, a create that never finished): the data is throwaway, so start
    # over with empty nodes rather than repair.
    stop_cluster
    for port in "${CLUSTER_PORTS[@]}"; do
        rm -rf "${CLUSTER_DIR:?}/${port}"
        mkdir -p "${CLUSTER_DIR}/${port}"
        redis-server --bind 127.0.0.1 --port "${port}" --daemonize yes \
            --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 5000 \
            --dir "${CLUSTER_DIR}/${port}" --pidfile "${CLUSTER_DIR}/${port}/redis.pid" \
            --logfile "${CLUSTER_DIR}/${port}/redis.log" --save "" --appendonly no \
            >/dev/null 9>&- ||
            die "Redis Cluster node did not start; see ${CLUSTER_DIR}/${port}/redis.log"
    done
    for port in "${CLUSTER_PORTS[@]}"; do
        for _ in $(seq 100); do
            node_up "${port}" && break
            sleep 0.1
        done
        node_up "${port}" || {
            tail -n 20 "${CLUSTER_DIR}/${port}/redis.log" >&2 || true
            die "Redis Cluster node is not answering on 127.0.0.1:${port}"
        }
    done
    local nodes=() log="${CLUSTER_DIR}/create.log"
    for port in "${CLUSTER_PORTS[@]}"; do nodes+=("127.0.0.1:${port}"); done
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes \
        </dev/null >"${log}" 2>&1 || {
        cat "${log}" >&2
        die "redis-cli --cluster create failed"
    }
    for _ in $(seq 200); do
        cluster_ok && return 0
        sleep 0.1
    done
    node_cli "${CLUSTER_PORTS[0]}" cluster info >&2 || true
    die "the Redis Cluster on ports ${CLUSTER_PORTS[*]} did not reach cluster_state:ok"
}

pg_running() {
    local bin="$1"
    as_postgres "${bin}/pg_ctl" status -D "${PG_DIR}" >/dev/null 2>&1
}

start_postgres() {
    local bin
    bin="$(pg_bin_dir)"
    [[ -n "${bin}" ]] || die "PostgreSQL binaries not found"
    id postgres >/dev/null 2>&1 || die "no postgres user (the postgresql package creates it)"
    if [[ ! -f "${PG_DIR}/PG_VERSION" ]]; then
        rm -rf "${PG_DIR}"
        mkdir -p "${PG_DIR}"
        chown postgres: "${PG_DIR}"
        chmod 700 "${PG_DIR}"
        as_postgres "${bin}/initdb" -D "${PG_DIR}" -U postgres -A trust -E UTF8 --no-locale \
            >"${STATE}/initdb.log" 2>&1 || {
            cat "${STATE}/initdb.log" >&2
            die "initdb failed"
        }
        # Tests need speed, not durability; the socket goes into the cluster directory because
        # /var/run/postgresql may not exist when the distribution's own cluster never ran.
        as_postgres tee -a "${PG_DIR}/postgresql.conf" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
port = ${PG_PORT}
unix_socket_directories = '${PG_DIR}'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
EOF
    fi
    if ! pg_running "${bin}"; then
        as_postgres "${bin}/pg_ctl" start -D "${PG_DIR}" -l "${PG_DIR}/server.log" -w -t 60 \
            -o "-p ${PG_PORT}" >/dev/null 2>&1 9>&- || {
            tail -n 20 "${PG_DIR}/server.log" >&2 || true
            die "PostgreSQL did not start on 127.0.0.1:${PG_PORT}"
        }
    fi
    local psql=("${bin}/psql" -X -q -h 127.0.0.1 -p "${PG_PORT}" -U postgres -d postgres -v ON_ERROR_STOP=1)
    if [[ "$("${psql[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname = '${PG_DB}'")" != "1" ]]; then
        "${psql[@]}" -c "CREATE DATABASE ${PG_DB}" >/dev/null || die "could not create ${PG_DB}"
    fi
}

stop_postgres() {
    local bin
    bin="$(pg_bin_dir)"
    [[ -n "${bin}" && -f "${PG_DIR}/PG_VERSION" ]] || return 0
    if pg_running "${bin}"; then
        as_postgres "${bin}/pg_ctl" stop -D "${PG_DIR}" -m fast -w -t 60 >/dev/null ||
            die "PostgreSQL in ${PG_DIR} did not stop"
    fi
}

write_env() {
    local tmp="${ENV_FILE}.tmp"
    {
        echo "export HUB_TEST_REDIS_URL=redis://127.0.0.1:${REDIS_PORT}/0"
        echo "export HUB_TEST_REDIS_CLUSTER_URL=redis+cluster://127.0.0.1:${CLUSTER_PORTS[0]}"
        echo "export HUB_TEST_POSTGRES_URL=postgresql+asyncpg://postgres@127.0.0.1:${PG_PORT}/${PG_DB}"
    } >"${tmp}"
    mv "${tmp}" "${ENV_FILE}"
}

main() {
    local command="${1:-}"
    mkdir -p "${STATE}"
    # One start or stop at a time (two `make test` runs in parallel). The servers are started
    # with fd 9 closed (9>&-): a daemon inheriting it would hold the lock for ever.
    exec 9>"${STATE}/lock"
    flock 9
    case "${command}" in
        start)
            install_missing
            start_redis
            start_cluster
            start_postgres
            write_env
            ;;
        stop)
            stop_redis
            stop_cluster
            stop_postgres
            rm -f "${ENV_FILE}"
            ;;
        status)
            local bin
            bin="$(pg_bin_dir)"
            if redis_up; then echo "redis: up on 127.0.0.1:${REDIS_PORT}"; else echo "redis: down"; fi
            if cluster_ok; then
                echo "redis cluster: up on 127.0.0.1:${CLUSTER_PORTS[*]}"
            else
                echo "redis cluster: down"
            fi
            if [[ -n "${bin}" ]] && pg_running "${bin}"; then
                echo "postgresql: up on 127.0.0.1:${PG_PORT} (${PG_DIR})"
            else
                echo "postgresql: down"
            fi
            ;;
        *)
            echo "usage: $0 start|stop|status" >&2
            exit 2
            ;;
    esac
}

main "$@"
