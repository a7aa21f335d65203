#!/usr/bin/env bash
# Local services for development and tests, as plain processes on 127.0.0.1 (no Docker needed):
#
#   Apache Kafka (single-node KRaft)  127.0.0.1:9092 (controller 9093)  jars from Maven Central
#                                     TLS 9094, SASL PLAIN over TLS 9095
#   PostgreSQL (project-owned cluster) 127.0.0.1:5432 (TLS on request)   Debian packages
#   s3proxy (S3 API, filesystem store) 127.0.0.1:9000                    jars from Maven Central
#
# TLS: a throwaway CA and a server certificate for 127.0.0.1 and localhost are made at the
# first start (.local/tls, openssl); Kafka's TLS listeners and PostgreSQL use that certificate,
# so clients can verify it against .local/tls/ca.pem (tests/faults/test_tls.py).
#
# Usage: scripts/services.sh up|down [kafka|postgres|s3proxy ...]|status|env
#   up      install what is missing, start what is not running (in parallel), wait until every
#           service answers a real client request, write .local/services.env. Idempotent.
#   down    stop (TERM/INT, wait, then KILL) only the processes this script started, or only the
#           ones named (an outage, for the fault suite); data stays.
#   status  show each service's state.
#   env     print the environment for clients (same as .local/services.env).
#
# Everything lives under .local/ (data, logs, jars, pidfiles) plus Maven's ~/.m2 cache.
#
# With Docker: when a Docker engine answers (`docker info` succeeds), up/down/status run the
# kafka, postgres and s3 services of docker-compose.yml instead, on the same ports and with the
# same credentials, and nothing is installed. GIM_SERVICES_DOCKER=never forces local processes.
# Settings here are for LOCAL DEV/TEST ONLY: PostgreSQL trusts every local TCP connection and
# runs with fsync=off; s3proxy uses a fixed, public access key. See docs/services.md.
#
# Overrides (environment): GIM_KAFKA_PORT, GIM_KAFKA_CONTROLLER_PORT, GIM_KAFKA_TLS_PORT,
# GIM_KAFKA_SASL_PORT, GIM_PG_PORT, GIM_S3_PORT,
# GIM_KAFKA_VERSION, GIM_S3PROXY_VERSION, GIM_PG_MAJOR, GIM_SERVICES_TIMEOUT (seconds per service).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TPL="$ROOT/scripts/services"
# GIM_SERVICES_DIR: a second, separate set (its own data, pids and env file), e.g. the fault
# suite's, which stops and starts its services while the main set serves other tests.
LOCAL="${GIM_SERVICES_DIR:-$ROOT/.local}"
RUN="$LOCAL/run"
LOGS="$LOCAL/logs"
ENV_FILE="$LOCAL/services.env"
PROBE=(python3 "$TPL/probe.py")

KAFKA_VERSION="${GIM_KAFKA_VERSION:-4.1.2}"
S3PROXY_VERSION="${GIM_S3PROXY_VERSION:-4.1.0}"
DEP_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies"
KAFKA_PORT="${GIM_KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${GIM_KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_TLS_PORT="${GIM_KAFKA_TLS_PORT:-9094}"
KAFKA_SASL_PORT="${GIM_KAFKA_SASL_PORT:-9095}"
KAFKA_SASL_USER="gim-local"
KAFKA_SASL_PASSWORD="gim-local-secret"
TLS="$LOCAL/tls"
PG_PORT="${GIM_PG_PORT:-5432}"
S3_PORT="${GIM_S3_PORT:-9000}"
S3_ACCESS_KEY="gim-local"
S3_SECRET_KEY="gim-local-secret"
S3_REGION="us-east-1"
S3_BUCKET="gim-test"
TIMEOUT="${GIM_SERVICES_TIMEOUT:-120}"

KAFKA_DIR="$LOCAL/kafka"
S3_DIR="$LOCAL/s3proxy"
S3_DATA="$LOCAL/s3/data"
ME="$(id -un)"

# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------
say() { printf '%-9s %s\n' "$1:" "${*:2}"; }
die() {
    # die SERVICE MESSAGE [LOGFILE]
    printf 'services.sh: ERROR: %s: %s\n' "$1" "$2" >&2
    if [[ -n "${3:-}" && -f "$3" ]]; then
        printf -- '--- last lines of %s ---\n' "$3" >&2
        tail -n 25 "$3" >&2 || true
        printf -- '--- (full log: %s)\n' "$3" >&2
    fi
    exit 1
}
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
since() { local ms=$(( $(now_ms) - $1 )); printf '%d.%01ds' $((ms / 1000)) $(((ms % 1000) / 100)); }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pid_of NAME PATTERN: print the pid recorded in .local/run/NAME.pid if that process is alive
# and its command line contains PATTERN (guards against pid reuse); remove a stale pidfile.
pid_of() {
    local file="$RUN/$1.pid" pid
    [[ -f "$file" ]] || return 1
    pid="$(cat "$file" 2>/dev/null || true)"
    if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null \
        && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2"; then
        echo "$pid"
        return 0
    fi
    rm -f "$file"
    return 1
}

# launch NAME LOGFILE CMD...: start CMD in its own session, detached from this shell (it outlives
# `make`), stdout/stderr appended to LOGFILE; the pidfile gets the pid of CMD itself.
launch() {
    local name="$1" log="$2"
    shift 2
    printf '\n===== %s starting %s =====\n' "$(date -Is)" "$name" >>"$log"
    # shellcheck disable=SC2016
    setsid nohup bash -c 'echo $$ >"$0"; exec "$@"' "$RUN/$name.pid" "$@" >>"$log" 2>&1 </dev/null &
    local i
    for i in $(seq 50); do [[ -s "$RUN/$name.pid" ]] && return 0; sleep 0.02; done
    die "$name" "could not launch (no pidfile)" "$log"
}

# wait_ready NAME PATTERN LOGFILE CHECK...: poll CHECK until it succeeds, failing early if the
# process dies, or after $TIMEOUT seconds.
wait_ready() {
    local name="$1" pattern="$2" log="$3"
    shift 3
    local deadline=$(( $(date +%s) + TIMEOUT )) last=""
    while true; do
        if last="$("$@" 2>&1)"; then return 0; fi
        pid_of "$name" "$pattern" >/dev/null \
            || die "$name" "process exited during startup (last check: ${last:-none}; all logs in $LOGS)" "$log"
        (( $(date +%s) < deadline )) \
            || die "$name" "not ready after ${TIMEOUT}s (last check: ${last:-none}; all logs in $LOGS)" "$log"
        sleep 0.3
    done
}

# stop NAME PATTERN FIRST_SIGNAL [SECOND_SIGNAL]: stop a process this script started.
stop() {
    local name="$1" pattern="$2" sig="$3" sig2="${4:-}" t0 pid i
    t0=$(now_ms)
    if ! pid="$(pid_of "$name" "$pattern")"; then
        say "$name" "not running (nothing started by services.sh to stop)"
        return 0
    fi
    kill "-$sig" "$pid" 2>/dev/null || true
    for i in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if [[ -n "$sig2" ]] && kill -0 "$pid" 2>/dev/null; then
        kill "-$sig2" "$pid" 2>/dev/null || true
        for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
        say "$name" "did not stop in time, killed (pid $pid)"
    fi
    rm -f "$RUN/$name.pid"
    say "$name" "stopped pid $pid ($(since "$t0"))"
}

# mvn_fetch NAME POM_TEMPLATE LIBDIR VERSION_PROPERTY VERSION: copy the runtime jars of the POM
# into LIBDIR unless LIBDIR already holds that version. Maven runs one at a time (flock).
mvn_fetch() {
    local name="$1" pom="$2" lib="$3" prop="$4" version="$5" log="$LOGS/mvn-$1.log"
    if [[ -f "$lib/.complete" && "$(cat "$lib/.complete")" == "$version" ]]; then return 0; fi
    local t0
    t0=$(now_ms)
    mkdir -p "$(dirname "$lib")"
    cp "$pom" "$(dirname "$lib")/pom.xml"
    rm -rf "$lib.tmp"
    say "$name" "downloading $name $version jars from Maven Central (log: $log)"
    # -U: retry artifacts whose earlier download failed (Maven caches the failure otherwise).
    if ! flock "$LOCAL/.mvn.lock" mvn -B -ntp -q -U -f "$(dirname "$lib")/pom.xml" \
        "-D$prop=$version" "$DEP_PLUGIN" "-DoutputDirectory=$lib.tmp" -DincludeScope=runtime \
        >"$log" 2>&1; then
        die "$name" "Maven could not download the $name $version jars" "$log"
    fi
    echo "$version" >"$lib.tmp/.complete"
    rm -rf "$lib"
    mv "$lib.tmp" "$lib"
    say "$name" "jars ready in $lib ($(du -sh "$lib" | cut -f1), $(since "$t0"))"
}

# ------------------------------------------------------------------------------------------
# prerequisites (apt packages); runs before the parallel part so dpkg is used by one process
# ------------------------------------------------------------------------------------------
pg_bindir() {
    local major="${GIM_PG_MAJOR:-}"
    if [[ -z "$major" && -f "$(pg_root)/data/PG_VERSION" ]]; then major="$(cat "$(pg_root)/data/PG_VERSION")"; fi
    if [[ -z "$major" && -x /usr/lib/postgresql/15/bin/postgres ]]; then major=15; fi
    if [[ -z "$major" ]]; then
        # newest installed server
        major="$(ls -1 /usr/lib/postgresql 2>/dev/null | sort -n | tail -n 1 || true)"
    fi
    echo "/usr/lib/postgresql/${major:-15}/bin"
}

PG_INSTALLED_NOW=0
prereqs() {
    local pkgs=()
    command -v java >/dev/null || pkgs+=(openjdk-17-jre-headless)
    command -v mvn >/dev/null || pkgs+=(maven)
    command -v openssl >/dev/null || pkgs+=(openssl)
    command -v python3 >/dev/null || pkgs+=(python3)
    command -v flock >/dev/null && command -v setsid >/dev/null || pkgs+=(util-linux)
    if [[ ! -x "$(pg_bindir)/postgres" ]]; then
        pkgs+=(postgresql)
        PG_INSTALLED_NOW=1
    fi
    ((${#pkgs[@]})) || return 0
    local log="$LOGS/apt.log" t0
    t0=$(now_ms)
    if [[ $EUID -ne 0 ]] || ! command -v apt-get >/dev/null; then
        die "prereqs" "missing: ${pkgs[*]}. Install them (Debian: sudo apt-get install -y ${pkgs[*]}) and re-run"
    fi
    say "apt" "installing ${pkgs[*]} (log: $log)"
    {
        DEBIAN_FRONTEND=noninteractive apt-get update -q \
            && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${pkgs[@]}"
    } >>"$log" 2>&1 || die "apt" "apt-get install ${pkgs[*]} failed" "$log"
    say "apt" "installed ${pkgs[*]} ($(since "$t0"))"
    if ((PG_INSTALLED_NOW)) && command -v pg_lsclusters >/dev/null; then
        # Debian's package creates and may start a default cluster on 5432; we run our own.
        local ver cluster port status
        while read -r ver cluster port status _; do
            if [[ "$status" == online* && "$port" == "$PG_PORT" ]]; then
                say "postgres" "stopping Debian's default cluster $ver/$cluster that the package just started on port $port"
                pg_ctlcluster "$ver" "$cluster" stop || true
                echo manual >"/etc/postgresql/$ver/$cluster/start.conf" || true
            fi
        done < <(pg_lsclusters -h 2>/dev/null || true)
    fi
}

# ------------------------------------------------------------------------------------------
# TLS: a throwaway CA and one server certificate, made once (LOCAL DEV/TEST ONLY)
# ------------------------------------------------------------------------------------------
tls_material() {
    [[ -s "$TLS/kafka-keystore.pem" ]] && return 0
    local log="$LOGS/tls.log" tmp="$TLS.tmp"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    {
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=gim-faust local test CA" \
            -keyout "$tmp/ca.key" -out "$tmp/ca.pem" \
            -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
        && openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
            -keyout "$tmp/server.key" -out "$tmp/server.csr" \
        && printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$tmp/ext" \
        && openssl x509 -req -in "$tmp/server.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" \
            -CAcreateserial -days 3650 -extfile "$tmp/ext" -out "$tmp/server.crt" \
        && openssl pkcs8 -topk8 -nocrypt -in "$tmp/server.key" -out "$tmp/server.pk8" \
        && cat "$tmp/server.pk8" "$tmp/server.crt" "$tmp/ca.pem" >"$tmp/kafka-keystore.pem"
    } >>"$log" 2>&1 || die tls "could not make the local CA and certificate" "$log"
    chmod 600 "$tmp"/*.key "$tmp/server.pk8"
    rm -rf "$TLS"
    mv "$tmp" "$TLS"
    say tls "made a throwaway CA ($TLS/ca.pem) and a certificate for 127.0.0.1 and localhost"
}

# ------------------------------------------------------------------------------------------
# Kafka
# ------------------------------------------------------------------------------------------
KAFKA_PATTERN="kafka.Kafka $KAFKA_DIR/server.properties"
kafka_probe() { "${PROBE[@]}" kafka "127.0.0.1:$KAFKA_PORT"; }

kafka_up() {
    local t0 pid log="$LOGS/kafka-server.log" out="$LOGS/kafka.out"
    t0=$(now_ms)
    if pid="$(pid_of kafka "$KAFKA_PATTERN")"; then
        wait_ready kafka "$KAFKA_PATTERN" "$log" kafka_probe
        if port_open "$KAFKA_TLS_PORT"; then
            say kafka "already running, pid $pid, 127.0.0.1:$KAFKA_PORT ($(since "$t0"))"
            return 0
        fi
        say kafka "running without its TLS listeners (started by an older services.sh): restarting"
        stop kafka "$KAFKA_PATTERN" TERM
    fi
    if port_open "$KAFKA_PORT" || port_open "$KAFKA_CONTROLLER_PORT"; then
        if kafka_probe >/dev/null 2>&1; then
            say kafka "a Kafka broker not started by services.sh answers on 127.0.0.1:$KAFKA_PORT; using it (down will not stop it)"
            return 0
        fi
        die kafka "port $KAFKA_PORT or $KAFKA_CONTROLLER_PORT is in use by another process; stop it or set GIM_KAFKA_PORT/GIM_KAFKA_CONTROLLER_PORT"
    fi
    mvn_fetch kafka "$TPL/kafka-pom.xml" "$KAFKA_DIR/lib" kafka.version "$KAFKA_VERSION"
    local data="$KAFKA_DIR/data"
    mkdir -p "$data"
    sed -e "s#@KAFKA_DATA@#$data#g" -e "s#@KAFKA_PORT@#$KAFKA_PORT#g" \
        -e "s#@KAFKA_CONTROLLER_PORT@#$KAFKA_CONTROLLER_PORT#g" \
        -e "s#@KAFKA_TLS_PORT@#$KAFKA_TLS_PORT#g" -e "s#@KAFKA_SASL_PORT@#$KAFKA_SASL_PORT#g" \
        -e "s#@TLS@#$TLS#g" -e "s#@SASL_USER@#$KAFKA_SASL_USER#g" \
        -e "s#@SASL_PASSWORD@#$KAFKA_SASL_PASSWORD#g" \
        "$TPL/kafka-server.properties" >"$KAFKA_DIR/server.properties"
    local java_tools=(java -Xmx256m -XX:TieredStopAtLevel=1
        "-Dlog4j2.configurationFile=$TPL/kafka-tools-log4j2.properties" -cp "$KAFKA_DIR/lib/*")
    if [[ ! -f "$data/meta.properties" ]]; then
        [[ -s "$KAFKA_DIR/cluster.id" ]] \
            || "${java_tools[@]}" kafka.tools.StorageTool random-uuid >"$KAFKA_DIR/cluster.id" 2>>"$out" \
            || die kafka "could not generate a cluster id" "$out"
        "${java_tools[@]}" kafka.tools.StorageTool format -t "$(cat "$KAFKA_DIR/cluster.id")" \
            -c "$KAFKA_DIR/server.properties" --ignore-formatted >>"$out" 2>&1 \
            || die kafka "formatting the KRaft storage in $data failed" "$out"
    fi
    launch kafka "$out" java -Xms256m -Xmx768m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
        -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
        "-Dkafka.logs.dir=$LOGS" "-Dlog4j2.configurationFile=$TPL/kafka-log4j2.properties" \
        -cp "$KAFKA_DIR/lib/*" kafka.Kafka "$KAFKA_DIR/server.properties"
    pid="$(cat "$RUN/kafka.pid")"
    wait_ready kafka "$KAFKA_PATTERN" "$log" kafka_probe
    say kafka "started Kafka $KAFKA_VERSION, pid $pid, 127.0.0.1:$KAFKA_PORT ($(since "$t0"); logs: $log)"
}

# ------------------------------------------------------------------------------------------
# PostgreSQL: a cluster owned by this project, data under .local/pg/data. Postgres refuses to
# run as root, so as root the server runs as the Debian `postgres` user.
# ------------------------------------------------------------------------------------------
pg_user() { if [[ $EUID -eq 0 ]]; then echo postgres; else echo "$ME"; fi; }
as_pg() {
    if [[ $EUID -eq 0 ]]; then
        setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
    else
        "$@"
    fi
}
# The data directory must be reachable by the server user. As root, .local may sit below a
# directory the postgres user cannot enter (e.g. a clone in /root); then fall back to a
# directory in postgres's home, named after this checkout.
pg_root() {
    if [[ $EUID -ne 0 ]] || setpriv --reuid=postgres --regid=postgres --init-groups -- test -x "$LOCAL" 2>/dev/null; then
        echo "$LOCAL/pg"
    else
        echo "/var/lib/postgresql/gim-faust-$(echo -n "${GIM_SERVICES_DIR:-$ROOT}" | sha1sum | cut -c1-8)"
    fi
}
pg_probe() {
    "$(pg_bindir)/psql" -X -h 127.0.0.1 -p "$PG_PORT" -U "$ME" -d postgres -Atqc 'select 1' >/dev/null
}

# pg_conf DATA: the settings of a throwaway LOCAL DEV/TEST cluster (fsync=off loses data on an
# OS crash), with TLS from the local CA's certificate; written on every start.
pg_conf() {
    local data="$1"
    install -m 600 "$TLS/server.crt" "$data/gim-tls.crt"
    install -m 600 "$TLS/server.key" "$data/gim-tls.key"
    cat >"$data/gim-local.conf" <<EOF
# Written by scripts/services.sh on every start. LOCAL DEV/TEST ONLY.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = ''
max_connections = 200
shared_buffers = 128MB
fsync = off
synchronous_commit = off
full_page_writes = off
timezone = 'UTC'
log_line_prefix = '%m [%p] %q%u@%d '
log_timezone = 'UTC'
ssl = on
ssl_cert_file = 'gim-tls.crt'
ssl_key_file = 'gim-tls.key'
EOF
    grep -q "^include_if_exists = 'gim-local.conf'" "$data/postgresql.conf" \
        || echo "include_if_exists = 'gim-local.conf'" >>"$data/postgresql.conf"
    [[ $EUID -ne 0 ]] || chown "$(pg_user):" "$data/gim-local.conf" "$data/postgresql.conf" \
        "$data/gim-tls.crt" "$data/gim-tls.key"
}

pg_up() {
    local t0 pid root data bin log="$LOGS/postgres.log"
    t0=$(now_ms)
    root="$(pg_root)"
    data="$root/data"
    local pattern="-D $data"
    bin="$(pg_bindir)"
    [[ -x "$bin/postgres" && -x "$bin/psql" ]] \
        || die postgres "no PostgreSQL server/psql in $bin (apt-get install postgresql; or check GIM_PG_MAJOR)"
    if pid="$(pid_of postgres "$pattern")"; then
        wait_ready postgres "$pattern" "$log" pg_probe
        pg_conf "$data"  # an older services.sh may have started it without TLS
        "$bin/psql" -X -h 127.0.0.1 -p "$PG_PORT" -U "$ME" -d postgres -Atqc 'select pg_reload_conf()' \
            >>"$log" 2>&1 || die postgres "could not reload its settings" "$log"
        say postgres "already running, pid $pid, 127.0.0.1:$PG_PORT ($(since "$t0"))"
        return 0
    fi
    if port_open "$PG_PORT"; then
        if pg_probe >/dev/null 2>&1; then
            say postgres "a PostgreSQL not started by services.sh accepts role $ME on 127.0.0.1:$PG_PORT; using it (down will not stop it)"
            return 0
        fi
        die postgres "port $PG_PORT is in use by another process (a system PostgreSQL? try: pg_lsclusters; pg_ctlcluster 15 main stop), or set GIM_PG_PORT"
    fi
    mkdir -p "$root"
    [[ $EUID -ne 0 ]] || chown "$(pg_user):" "$root"
    cd "$root"  # runs in a background subshell; the server user may not be able to enter the caller's cwd
    if [[ ! -f "$data/PG_VERSION" ]]; then
        rm -rf "$data"
        say postgres "initdb $data (superuser role: $ME)"
        # Local dev/test only: trust authentication for local connections.
        as_pg "$bin/initdb" -D "$data" -U "$ME" --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync \
            >>"$log" 2>&1 || die postgres "initdb failed" "$log"
    fi
    pg_conf "$data"
    if [[ $EUID -eq 0 ]]; then
        launch postgres "$log" setpriv --reuid=postgres --regid=postgres --init-groups -- "$bin/postgres" -D "$data"
    else
        launch postgres "$log" "$bin/postgres" -D "$data"
    fi
    pid="$(cat "$RUN/postgres.pid")"
    wait_ready postgres "$pattern" "$log" pg_probe
    # A `postgres` role too, for tools that assume it.
    "$bin/psql" -X -h 127.0.0.1 -p "$PG_PORT" -U "$ME" -d postgres -qc \
        "DO \$\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'postgres') THEN CREATE ROLE postgres SUPERUSER LOGIN; END IF; END\$\$" \
        >>"$log" 2>&1 || die postgres "could not create role postgres" "$log"
    say postgres "started PostgreSQL $(cat "$data/PG_VERSION"), pid $pid, 127.0.0.1:$PG_PORT, data $data ($(since "$t0"); log: $log)"
}

# ------------------------------------------------------------------------------------------
# s3proxy
# ------------------------------------------------------------------------------------------
S3_PATTERN="org.gaul.s3proxy.Main --properties $S3_DIR/s3proxy.properties"
s3_probe() {
    AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$S3_SECRET_KEY" AWS_DEFAULT_REGION="$S3_REGION" \
        "${PROBE[@]}" s3 "http://127.0.0.1:$S3_PORT" "$S3_BUCKET"
}

s3_up() {
    local t0 pid log="$LOGS/s3proxy.log"
    t0=$(now_ms)
    if pid="$(pid_of s3proxy "$S3_PATTERN")"; then
        wait_ready s3proxy "$S3_PATTERN" "$log" s3_probe
        say s3proxy "already running, pid $pid, http://127.0.0.1:$S3_PORT ($(since "$t0"))"
        return 0
    fi
    if port_open "$S3_PORT"; then
        if s3_probe >/dev/null 2>&1; then
            say s3proxy "an S3 endpoint not started by services.sh accepts our credentials on 127.0.0.1:$S3_PORT; using it (down will not stop it)"
            return 0
        fi
        die s3proxy "port $S3_PORT is in use by another process; stop it or set GIM_S3_PORT"
    fi
    mvn_fetch s3proxy "$TPL/s3proxy-pom.xml" "$S3_DIR/lib" s3proxy.version "$S3PROXY_VERSION"
    mkdir -p "$S3_DATA"
    sed -e "s#@S3_PORT@#$S3_PORT#g" -e "s#@S3_DATA@#$S3_DATA#g" \
        -e "s#@S3_ACCESS_KEY@#$S3_ACCESS_KEY#g" -e "s#@S3_SECRET_KEY@#$S3_SECRET_KEY#g" \
        "$TPL/s3proxy.properties" >"$S3_DIR/s3proxy.properties"
    launch s3proxy "$log" java -Xms64m -Xmx512m -XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError \
        -Djava.awt.headless=true "-Dlogback.configurationFile=$TPL/s3proxy-logback.xml" \
        -cp "$S3_DIR/lib/*" org.gaul.s3proxy.Main --properties "$S3_DIR/s3proxy.properties"
    pid="$(cat "$RUN/s3proxy.pid")"
    wait_ready s3proxy "$S3_PATTERN" "$log" s3_probe
    say s3proxy "started s3proxy $S3PROXY_VERSION, pid $pid, http://127.0.0.1:$S3_PORT, bucket $S3_BUCKET, data $S3_DATA ($(since "$t0"); log: $log)"
}

# ------------------------------------------------------------------------------------------
# Docker: the same three services from docker-compose.yml
# ------------------------------------------------------------------------------------------
COMPOSE_FILE="$ROOT/docker-compose.yml"
COMPOSE_SERVICES=(kafka postgres s3)

use_docker() {
    [[ "${GIM_SERVICES_DOCKER:-auto}" != never ]] && command -v docker >/dev/null \
        && docker info >/dev/null 2>&1
}

compose() {
    # Compose substitutes these in docker-compose.yml: same ports, and the PostgreSQL superuser
    # named like the local user, as the local cluster has it (clients connect without a user).
    local env=(GIM_PG_USER="$ME" GIM_KAFKA_PORT="$KAFKA_PORT" GIM_PG_PORT="$PG_PORT" GIM_S3_PORT="$S3_PORT")
    if docker compose version >/dev/null 2>&1; then
        env "${env[@]}" docker compose -f "$COMPOSE_FILE" "$@"
    elif command -v docker-compose >/dev/null; then
        env "${env[@]}" docker-compose -f "$COMPOSE_FILE" "$@"
    else
        die docker "a Docker engine answers but neither 'docker compose' nor 'docker-compose' is installed (or set GIM_SERVICES_DOCKER=never)"
    fi
}

docker_pg_probe() {
    port_open "$PG_PORT" && compose exec -T postgres pg_isready -q -h 127.0.0.1 -U "$ME"
}

# wait_probe NAME PROBE...: until the probe succeeds, or die after TIMEOUT seconds.
wait_probe() {
    local name="$1" deadline=$(( $(date +%s) + TIMEOUT )) last=""
    shift
    until last="$("$@" 2>&1)"; do
        (( $(date +%s) < deadline )) \
            || die "$name" "not ready after ${TIMEOUT}s (last check: ${last:-none}; see: docker compose -f $COMPOSE_FILE logs $name)"
        sleep 0.5
    done
}

docker_up() {
    local t0
    t0=$(now_ms)
    say docker "a Docker engine answers: starting ${COMPOSE_SERVICES[*]} from $COMPOSE_FILE"
    compose up -d "${COMPOSE_SERVICES[@]}" >>"$LOGS/compose.log" 2>&1 \
        || die docker "docker compose up failed" "$LOGS/compose.log"
    wait_probe kafka kafka_probe
    wait_probe postgres docker_pg_probe
    wait_probe s3 s3_probe      # also creates the test bucket
    say docker "kafka 127.0.0.1:$KAFKA_PORT, postgres 127.0.0.1:$PG_PORT, s3 http://127.0.0.1:$S3_PORT ($(since "$t0"))"
}

# ------------------------------------------------------------------------------------------
env_lines() {
    cat <<EOF
AWS_ENDPOINT_URL=http://127.0.0.1:$S3_PORT
AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY
AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY
AWS_DEFAULT_REGION=$S3_REGION
GIM_KAFKA_BOOTSTRAP=127.0.0.1:$KAFKA_PORT
GIM_TEST_PG_URL=postgresql://127.0.0.1:$PG_PORT/postgres
GIM_TEST_S3_BUCKET=$S3_BUCKET
EOF
    use_docker || cat <<EOF
GIM_TEST_TLS_CA=$TLS/ca.pem
GIM_TEST_KAFKA_TLS_BOOTSTRAP=127.0.0.1:$KAFKA_TLS_PORT
GIM_TEST_KAFKA_SASL_BOOTSTRAP=127.0.0.1:$KAFKA_SASL_PORT
GIM_TEST_KAFKA_SASL_USERNAME=$KAFKA_SASL_USER
GIM_TEST_KAFKA_SASL_PASSWORD=$KAFKA_SASL_PASSWORD
EOF
}

cmd_up() {
    local t0 rc=0 failed=() name
    t0=$(now_ms)
    mkdir -p "$RUN" "$LOGS"
    if use_docker; then
        docker_up
        write_env "$t0"
        return
    fi
    prereqs
    tls_material
    declare -A starters=()
    kafka_up & starters[kafka]=$!
    pg_up & starters[postgres]=$!
    s3_up & starters[s3proxy]=$!
    for name in kafka postgres s3proxy; do
        wait "${starters[$name]}" || { rc=1; failed+=("$name"); }
    done
    if ((rc)); then
        echo "services.sh: ERROR: failed to start: ${failed[*]} (logs in $LOGS; the others were left running; 'make services-down' stops them)" >&2
        exit 1
    fi
    write_env "$t0"
}

write_env() {
    {
        echo "# Written by scripts/services.sh up. Load with: set -a; source .local/services.env; set +a"
        env_lines
    } >"$ENV_FILE"
    echo "all services ready in $(since "$1"); environment written to $ENV_FILE:"
    env_lines
}

cmd_down() {
    local names=("$@") pids=() name
    ((${#names[@]})) || names=(kafka postgres s3proxy)
    if use_docker; then
        compose stop "${COMPOSE_SERVICES[@]}"   # data stays in the compose volumes
        return
    fi
    for name in "${names[@]}"; do
        case "$name" in
            kafka) stop kafka "$KAFKA_PATTERN" TERM & ;;
            # SIGINT = fast shutdown, then SIGQUIT = immediate shutdown
            postgres) stop postgres "-D $(pg_root)/data" INT QUIT & ;;
            s3proxy) stop s3proxy "$S3_PATTERN" TERM & ;;
            *) die "$name" "no such service (kafka, postgres, s3proxy)" ;;
        esac
        pids+=($!)
    done
    wait "${pids[@]}"
}

cmd_status() {
    local rc=0 pid
    if use_docker; then
        compose ps "${COMPOSE_SERVICES[@]}"
        kafka_probe >/dev/null 2>&1 && docker_pg_probe && s3_probe >/dev/null 2>&1
        return
    fi
    if pid="$(pid_of kafka "$KAFKA_PATTERN")"; then say kafka "running, pid $pid: $(kafka_probe 2>&1 || true)"
    elif kafka_probe >/dev/null 2>&1; then say kafka "answering on 127.0.0.1:$KAFKA_PORT but not started by services.sh"
    else say kafka "stopped"; rc=3; fi
    if pid="$(pid_of postgres "-D $(pg_root)/data")"; then
        say postgres "running, pid $pid: $(pg_probe 2>&1 && echo "accepting connections on 127.0.0.1:$PG_PORT" || true)"
    elif pg_probe >/dev/null 2>&1; then say postgres "answering on 127.0.0.1:$PG_PORT but not started by services.sh"
    else say postgres "stopped"; rc=3; fi
    if pid="$(pid_of s3proxy "$S3_PATTERN")"; then say s3proxy "running, pid $pid: $(s3_probe 2>&1 || true)"
    elif s3_probe >/dev/null 2>&1; then say s3proxy "answering on 127.0.0.1:$S3_PORT but not started by services.sh"
    else say s3proxy "stopped"; rc=3; fi
    return $rc
}

case "${1:-}" in
    up) cmd_up ;;
    down) mkdir -p "$RUN"; shift; cmd_down "$@" ;;
    status) cmd_status ;;
    env) env_lines ;;
    *)
        echo "usage: $0 up|down|status|env" >&2
        exit 2
        ;;
esac
