#!/usr/bin/env bash
# Runs a real single-node Apache Kafka 4.1.1 broker (KRaft, broker+controller
# in one JVM) on 127.0.0.1 for development and for the kafkabus contract
# tests. Everything lives under DIR: server.properties, data/, kafka.pid,
# kafka.out. The broker listens on PORT, its controller on PORT+1.
#
# usage: deploy/dev/kafka.sh start|stop|status DIR PORT
#
# start and stop are idempotent: starting a running broker or stopping a
# stopped one succeeds without doing anything. Restarting on the same DIR
# keeps the data (storage is formatted only once), which is what the
# broker-restart test relies on.
#
# The jars come from ${NETPULSE_CACHE:-$HOME/.cache/netpulse}/kafka-4.1.1/libs
# (deploy/dev/install-deps.sh kafka, run here if they are missing). Needs
# Java 17+ as `java` on PATH or under $JAVA_HOME.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${NETPULSE_CACHE:-$HOME/.cache/netpulse}
libs="$cache/kafka-4.1.1/libs"

usage() { echo "usage: $0 start|stop|status DIR PORT" >&2; exit 2; }
log() { printf 'kafka.sh: %s\n' "$*" >&2; }

[ $# -eq 3 ] || usage
cmd=$1
dir=$2
port=$3
case "$port" in '' | *[!0-9]*) usage ;; esac
ctrl_port=$((port + 1))
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
pidfile="$dir/kafka.pid"
props="$dir/server.properties"

java_bin() {
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
    echo "$JAVA_HOME/bin/java"
  else
    command -v java || { log "java not found (need Java 17+)"; exit 1; }
  fi
}

# alive is kill -0 that does not count an unreaped zombie as running.
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

running_pid() {
  [ -f "$pidfile" ] || return 1
  local pid
  pid=$(cat "$pidfile")
  [ -n "$pid" ] && alive "$pid" || return 1
  # Guard against a recycled pid belonging to something else.
  grep -q 'kafka.Kafka' "/proc/$pid/cmdline" 2>/dev/null || return 1
  echo "$pid"
}

# answers sends an ApiVersions v0 request and checks that a response with our
# correlation id comes back. An open port alone is not enough: the broker
# binds its listener long before it starts processing requests.
answers() {
  local reply
  reply=$(
    exec 2>/dev/null
    exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
    printf '\x00\x00\x00\x0a\x00\x12\x00\x00\x00\x00\x00\x2a\x00\x00' >&3
    timeout 2 head -c 8 <&3 | od -An -tx1 | tr -d ' \n'
  ) || return 1
  # 4 bytes size, then correlation id 42.
  [ "${reply:8:8}" = "0000002a" ]
}

write_props() {
  cat >"$props" <<EOF
# Written by deploy/dev/kafka.sh; regenerated on every start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$ctrl_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$ctrl_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data
# One node: every internal topic has one replica.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
# The group coordinator otherwise lingers to batch offset commits, which
# makes each synchronous commit of a lone consumer take ~10ms.
group.coordinator.append.linger.ms=0
# netpulse creates its topics explicitly with the partition count it wants.
auto.create.topics.enable=false
# Few threads: the machine is small and shared.
num.network.threads=2
num.io.threads=2
background.threads=2
num.recovery.threads.per.data.dir=1
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=8388608
EOF
}

start() {
  if pid=$(running_pid); then
    log "already running (pid $pid) on 127.0.0.1:$port"
    return 0
  fi
  if [ ! -f "$libs/.complete" ]; then
    log "Kafka jars missing in $libs; installing"
    "$here/install-deps.sh" kafka
  fi
  local java
  java=$(java_bin)
  write_props
  if [ ! -f "$dir/data/meta.properties" ]; then
    # Kafka cluster ids are 16 random bytes in URL-safe base64, unpadded.
    # They may start with "-", hence --cluster-id=ID rather than -t ID.
    local cluster_id
    cluster_id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
    "$java" -Xmx256m -XX:TieredStopAtLevel=1 -cp "$libs/*" kafka.tools.StorageTool \
      format --cluster-id="$cluster_id" --config "$props" >"$dir/format.out" 2>&1 || {
      log "storage format failed:"; cat "$dir/format.out" >&2; exit 1; }
  fi
  # Small heap and serial GC: a test broker holds little and should not
  # compete for the shared cores with GC threads.
  nohup "$java" -Xms64m -Xmx512m -XX:+UseSerialGC -XX:MaxMetaspaceSize=256m \
    -Djava.awt.headless=true -cp "$libs/*" kafka.Kafka "$props" \
    >"$dir/kafka.out" 2>&1 </dev/null &
  echo $! >"$pidfile"
  local pid=$!
  for _ in $(seq 1 600); do
    if ! alive "$pid"; then
      log "broker exited during startup; last output:"
      tail -n 40 "$dir/kafka.out" >&2
      rm -f "$pidfile"
      exit 1
    fi
    if answers; then
      log "started (pid $pid) on 127.0.0.1:$port"
      return 0
    fi
    sleep 0.1
  done
  log "broker did not answer on 127.0.0.1:$port within 60s"
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidfile"
  exit 1
}

stop() {
  local pid
  if ! pid=$(running_pid); then
    rm -f "$pidfile"
    return 0
  fi
  kill "$pid" 2>/dev/null || true
  # A controlled shutdown takes a few seconds; after 30s stop waiting.
  for _ in $(seq 1 300); do
    alive "$pid" || { rm -f "$pidfile"; log "stopped (pid $pid)"; return 0; }
    sleep 0.1
  done
  log "pid $pid ignored SIGTERM for 30s; killing"
  kill -9 "$pid" 2>/dev/null || true
  while alive "$pid"; do sleep 0.1; done
  rm -f "$pidfile"
}

status() {
  local pid
  if pid=$(running_pid) && answers; then
    echo "running pid $pid 127.0.0.1:$port"
    return 0
  fi
  echo "stopped"
  return 1
}

case "$cmd" in
start) start ;;
stop) stop ;;
status) status ;;
*) usage ;;
esac
