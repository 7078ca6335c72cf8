#!/usr/bin/env bash
# A real one-node Slurm (22.05, Debian's slurm-wlm) with accounting, for tests that drive
# sbatch/sacct/submitit on this machine.
#
#   scripts/slurm-local.sh start    install what is missing (apt-get), start munged, MariaDB,
#                                   slurmdbd, slurmctld and slurmd; wait for the node to be idle
#   scripts/slurm-local.sh stop     cancel leftover jobs, stop the daemons that `start` started
#   scripts/slurm-local.sh status   say which daemons run, show sinfo; exit 0 only if all run
#
# Everything (configs, spool, state, MariaDB data, munge key and socket, logs, pid files) lives
# in the state folder ${SCALECMP_SLURM_DIR:-/tmp/scalecmp-slurm}. Clients need
#   export SLURM_CONF=$STATE/etc/slurm.conf
# unless /etc/slurm/slurm.conf points there: `start` makes it a symlink to the state folder's
# config when no /etc/slurm/slurm.conf exists yet (it never replaces one).
#
# Knobs (environment): SCALECMP_SLURM_DIR, SCALECMP_SLURM_NODE (node name, default localnode),
# SCALECMP_SLURM_PORTS (slurmctld,slurmd,slurmdbd,mariadb; default 6817,6818,6819,33306),
# SCALECMP_SLURM_TIMEOUT (seconds to wait for each daemon, default 60).
# Needs root (the daemons run as root; SlurmUser=root).
set -Eeuo pipefail

PROG=slurm-local
STATE=${SCALECMP_SLURM_DIR:-/tmp/scalecmp-slurm}
case $STATE in /*) ;; *) STATE=$PWD/$STATE ;; esac
STATE=${STATE%/}
NODE=${SCALECMP_SLURM_NODE:-localnode}
CLUSTER=scalecmp
IFS=, read -r CTLD_PORT SLURMD_PORT DBD_PORT DB_PORT <<<"${SCALECMP_SLURM_PORTS:-6817,6818,6819,33306}"
TIMEOUT=${SCALECMP_SLURM_TIMEOUT:-60}
for _p in "$CTLD_PORT" "$SLURMD_PORT" "$DBD_PORT" "$DB_PORT" "$TIMEOUT"; do
  case $_p in '' | *[!0-9]*)
    echo "$PROG: error: SCALECMP_SLURM_PORTS needs 4 port numbers and SCALECMP_SLURM_TIMEOUT" \
      "a number of seconds" >&2
    exit 2 ;;
  esac
done

ETC=$STATE/etc
RUN=$STATE/run
LOG=$STATE/log
CONF=$ETC/slurm.conf
DBD_CONF=$ETC/slurmdbd.conf
MUNGE_DIR=$STATE/munge
MUNGE_SOCK=$MUNGE_DIR/munge.socket
DB_DIR=$STATE/mysql
DB_SOCK=$DB_DIR/mysqld.sock
DAEMONS=(munged mariadbd slurmdbd slurmctld slurmd)   # start order; stop is the reverse
PACKAGES=(munge mariadb-server mariadb-client slurm-wlm slurm-client slurmdbd)
export PATH=$PATH:/usr/sbin:/sbin

die() { echo "$PROG: error: $*" >&2; exit 1; }
say() { echo "$PROG: $*"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
trap 'echo "$PROG: error: unexpected failure at line $LINENO (exit $?)" >&2' ERR

# every Slurm client and daemon that this script runs reads our config
export SLURM_CONF=$CONF

pidfile() { echo "$RUN/$1.pid"; }

# Run a daemon with only stdin, stdout and stderr open: an inherited descriptor (our lock,
# a caller's pipe) would otherwise stay open for the daemon's lifetime.
close_fds() {
  local fd
  for fd in /proc/self/fd/*; do
    fd=${fd##*/}
    if [ "$fd" -gt 2 ]; then eval "exec $fd>&-"; fi
  done 2>/dev/null
}
launch() { (close_fds; exec "$@" </dev/null); }        # for daemons that fork themselves
launch_bg() { (close_fds; exec "$@" </dev/null) & }    # for one that does not; pid in $!

# The pid of daemon $1 if it runs and is ours: its pid file names a live process with that
# command name whose command line or environment mentions the state folder.
our_pid() {
  local f pid stat
  f=$(pidfile "$1")
  [ -r "$f" ] || return 1
  pid=$({ tr -dc 0-9 <"$f"; } 2>/dev/null) || return 1   # the daemon may remove it as it exits
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ] || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] || return 1
  { tr '\0' '\n' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF "$STATE" ||
    { tr '\0' '\n' <"/proc/$pid/environ"; } 2>/dev/null | grep -qF "$STATE" || return 1
  echo "$pid"
}

log_tail() {  # show the end of a log on stderr
  local f
  for f in "$@"; do
    [ -s "$f" ] || continue
    echo "---- last lines of $f ----" >&2
    tail -n 15 "$f" >&2
  done
}

# wait_for DAEMON DESCRIPTION LOG... -- COMMAND: poll COMMAND until it succeeds
wait_for() {
  local name=$1 what=$2 logs=() t0 misses
  shift 2
  while [ "$1" != -- ]; do logs+=("$1"); shift; done
  shift
  t0=$(date +%s)
  misses=0
  until "$@" >/dev/null 2>&1; do
    # a daemon writes its pid file a moment after it starts: only a long absence is a death
    if our_pid "$name" >/dev/null; then misses=0; else misses=$((misses + 1)); fi
    if [ "$misses" -ge 10 ]; then
      log_tail "${logs[@]}"
      die "$name exited while starting (see ${logs[*]})"
    fi
    if [ $(($(date +%s) - t0)) -ge "$TIMEOUT" ]; then
      log_tail "${logs[@]}"
      die "$name: timed out after ${TIMEOUT}s waiting for $what (see ${logs[*]})"
    fi
    sleep 0.3
  done
}

# ---------------------------------------------------------------- install

missing_packages() {
  local p miss=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
      miss+=("$p")
  done
  echo "${miss[*]}"
}

install_packages() {
  local miss t0 alog
  miss=$(missing_packages)
  [ -n "$miss" ] || return 0
  command -v apt-get >/dev/null || die "packages missing ($miss) and there is no apt-get"
  t0=$(now)
  alog=$(mktemp)
  say "installing $miss with apt-get (once; about a minute)"
  # shellcheck disable=SC2086  # word splitting of the package list is wanted
  if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
         DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
           -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold $miss
       } >"$alog" 2>&1; then
    tail -n 15 "$alog" >&2
    rm -f "$alog"
    die "apt-get could not install: $miss"
  fi
  rm -f "$alog"
  say "installed packages in $(since "$t0")s"
}

# ---------------------------------------------------------------- configuration

write_if_changed() {  # write stdin to $1 (mode $2) unless it already has that content
  local tmp
  tmp=$(mktemp "$1.XXXXXX")
  cat >"$tmp"
  chmod "$2" "$tmp"
  if [ -f "$1" ] && cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv -f "$tmp" "$1"; fi
}

write_config() {
  local cpus mem_mb real_mb per_cpu
  mkdir -p "$ETC" "$RUN" "$LOG" "$STATE/spool/ctld" "$STATE/spool/slurmd"
  cpus=$(nproc)
  mem_mb=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
  real_mb=$((mem_mb - (mem_mb / 10 > 512 ? mem_mb / 10 : 512)))
  [ "$real_mb" -ge 256 ] || real_mb=256
  per_cpu=$((real_mb / cpus))
  [ -s "$ETC/dbpass" ] || (umask 077; od -An -N12 -tx1 /dev/urandom | tr -d ' \n' >"$ETC/dbpass")

  write_if_changed "$CONF" 644 <<EOF
# written by scripts/slurm-local.sh: a one-node test cluster; edits are overwritten by start
ClusterName=$CLUSTER
SlurmctldHost=$(hostname -s)(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
AuthType=auth/munge
# cred_expire also sets how long a requeued job waits before it may start again (default 120 s)
AuthInfo=socket=$MUNGE_SOCK,cred_expire=10
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$STATE/spool/ctld
SlurmdSpoolDir=$STATE/spool/slurmd
SlurmctldPidFile=$(pidfile slurmctld)
SlurmdPidFile=$(pidfile slurmd)
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
SlurmdParameters=config_overrides
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=5,bf_interval=5
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
DefMemPerCPU=$per_cpu
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
# the munge socket for talking to slurmdbd (AuthInfo does not cover those connections)
AccountingStoragePass=$MUNGE_SOCK
JobCompType=jobcomp/none
SlurmctldTimeout=30
SlurmdTimeout=30
MessageTimeout=10
KillWait=5
MinJobAge=30
InactiveLimit=0
Waittime=0
NodeName=$NODE NodeAddr=127.0.0.1 NodeHostname=$NODE CPUs=$cpus RealMemory=$real_mb State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF

  write_if_changed "$DBD_CONF" 600 <<EOF
# written by scripts/slurm-local.sh
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCK
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
DebugLevel=info
LogFile=$LOG/slurmdbd.log
PidFile=$(pidfile slurmdbd)
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$(cat "$ETC/dbpass")
StorageLoc=slurm_acct_db
EOF
  chown root:root "$DBD_CONF"

  # plain `sbatch`/`sacct`/submitit without SLURM_CONF: only where nothing is there yet
  if [ ! -e /etc/slurm/slurm.conf ] && [ ! -L /etc/slurm/slurm.conf ]; then
    mkdir -p /etc/slurm
    ln -s "$CONF" /etc/slurm/slurm.conf
    say "linked /etc/slurm/slurm.conf -> $CONF"
  fi
}

# ---------------------------------------------------------------- daemons

start_munged() {
  local key=$MUNGE_DIR/munge.key
  mkdir -p "$MUNGE_DIR"
  chmod 755 "$MUNGE_DIR"  # munged wants the socket folder traversable by all; the key is 600
  if [ ! -s "$key" ]; then
    if command -v mungekey >/dev/null; then
      mungekey --create --keyfile="$key" >/dev/null
    else
      dd if=/dev/urandom of="$key" bs=1024 count=1 status=none
    fi
  fi
  chmod 600 "$key"
  rm -f "$MUNGE_SOCK" "$MUNGE_SOCK.lock"
  launch munged --socket="$MUNGE_SOCK" --key-file="$key" --pid-file="$(pidfile munged)" \
    --log-file="$LOG/munged.log" --seed-file="$MUNGE_DIR/munge.seed" >>"$LOG/munged.log" 2>&1 ||
    { log_tail "$LOG/munged.log"; die "munged failed to start (see $LOG/munged.log)"; }
  # shellcheck disable=SC2016  # $1 is expanded by the inner sh
  wait_for munged "a munge credential" "$LOG/munged.log" -- \
    sh -c 'munge -n -S "$1" | unmunge -S "$1"' _ "$MUNGE_SOCK"
}

db() { mariadb --no-defaults -S "$DB_SOCK" -u root "$@"; }

start_mariadbd() {
  local data=$DB_DIR/data pass
  mkdir -p "$DB_DIR"
  if [ ! -d "$data/mysql" ]; then
    rm -rf "$data"
    mariadb-install-db --no-defaults --datadir="$data" --user=root --skip-test-db \
      --auth-root-authentication-method=socket >"$LOG/mariadb-install.log" 2>&1 ||
      { log_tail "$LOG/mariadb-install.log"; die "mariadb-install-db failed"; }
  fi
  rm -f "$DB_SOCK"
  launch_bg setsid mariadbd --no-defaults --datadir="$data" --socket="$DB_SOCK" --port="$DB_PORT" \
    --bind-address=127.0.0.1 --skip-name-resolve --user=root --pid-file="$(pidfile mariadbd)" \
    --log-error="$LOG/mariadbd.log" --innodb-buffer-pool-size=128M --innodb-use-native-aio=0 \
    --innodb-lock-wait-timeout=900 --skip-log-bin >>"$LOG/mariadbd.log" 2>&1
  # mariadbd writes its pid file itself, a moment after it starts; record ours right away
  echo $! >"$(pidfile mariadbd)"
  wait_for mariadbd "the database to answer" "$LOG/mariadbd.log" -- \
    mariadb-admin --no-defaults -S "$DB_SOCK" -u root ping
  pass=$(cat "$ETC/dbpass")
  db -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
    CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$pass';
    CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$pass';
    ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$pass';
    ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$pass';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';" ||
    die "could not create the accounting database in MariaDB"
}

start_slurmdbd() {
  launch slurmdbd >>"$LOG/slurmdbd.log" 2>&1 ||
    { log_tail "$LOG/slurmdbd.log"; die "slurmdbd failed to start (see $LOG/slurmdbd.log)"; }
  wait_for slurmdbd "slurmdbd to answer sacctmgr" "$LOG/slurmdbd.log" -- \
    timeout 10 sacctmgr -n -P list cluster format=cluster
  if ! sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER"; then
    sacctmgr -i add cluster "$CLUSTER" >/dev/null ||
      die "sacctmgr could not register cluster $CLUSTER"
  fi
}

start_slurmctld() {
  launch slurmctld -f "$CONF" >>"$LOG/slurmctld.log" 2>&1 ||
    { log_tail "$LOG/slurmctld.log"; die "slurmctld failed to start (see $LOG/slurmctld.log)"; }
  wait_for slurmctld "scontrol ping" "$LOG/slurmctld.log" -- \
    sh -c 'timeout 10 scontrol ping | grep -q "is UP"'
}

node_ready() {
  local st
  st=$(timeout 10 sinfo -h -N -n "$NODE" -o %T) || return 1
  case $st in
    idle | mixed | allocated | completing) return 0 ;;
    *drain*) scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true ;;
  esac
  return 1
}

start_slurmd() {
  launch slurmd -f "$CONF" -N "$NODE" >>"$LOG/slurmd.log" 2>&1 ||
    { log_tail "$LOG/slurmd.log"; die "slurmd failed to start (see $LOG/slurmd.log)"; }
  wait_for slurmd "node $NODE to be idle in sinfo" "$LOG/slurmd.log" "$LOG/slurmctld.log" -- \
    node_ready
}

stop_one() {
  local name=$1 pid waited=0 limit=30
  pid=$(our_pid "$name") || { rm -f "$(pidfile "$name")"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  while our_pid "$name" >/dev/null; do
    if [ "$waited" -ge $((limit * 10)) ]; then
      say "$name (pid $pid) did not exit within ${limit}s of SIGTERM; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  rm -f "$(pidfile "$name")"
  say "stopped $name (pid $pid)"
}

# ---------------------------------------------------------------- commands

export_line() { echo "export SLURM_CONF=$CONF"; }

cmd_status() {
  local d pid all=0
  for d in "${DAEMONS[@]}"; do
    if pid=$(our_pid "$d"); then
      printf '%-10s running (pid %s)\n' "$d" "$pid"
    else
      printf '%-10s stopped\n' "$d"
      all=1
    fi
  done
  if our_pid slurmctld >/dev/null; then
    timeout 10 sinfo || true
  fi
  export_line
  return "$all"
}

cmd_start() {
  local t0 d started=() pid
  [ "$(id -u)" = 0 ] || die "must run as root (the daemons run as root)"
  mkdir -p "$STATE"
  exec 9>"$STATE/lock"
  flock -w 300 9 || die "another start/stop holds $STATE/lock"
  install_packages
  t0=$(now)
  write_config
  for d in "${DAEMONS[@]}"; do
    if pid=$(our_pid "$d"); then continue; fi
    "start_$d"
    started+=("$d")
  done
  if [ ${#started[@]} -eq 0 ]; then
    node_ready || wait_for slurmd "node $NODE to be idle in sinfo" "$LOG/slurmd.log" -- node_ready
    say "already running (state in $STATE)"
  else
    say "started ${started[*]} in $(since "$t0")s: node $NODE ($(nproc) CPUs) idle in" \
      "partition debug, cluster $CLUSTER, state in $STATE"
  fi
  export_line
}

cmd_stop() {
  local d i
  [ "$(id -u)" = 0 ] || die "must run as root"
  [ -d "$STATE" ] || { say "nothing to stop ($STATE does not exist)"; return 0; }
  exec 9>"$STATE/lock"
  flock -w 300 9 || die "another start/stop holds $STATE/lock"
  # jobs left behind would keep running as orphans once slurmd is gone: cancel them first
  if our_pid slurmctld >/dev/null &&
     [ -n "$(timeout 10 squeue -h -o %i 2>/dev/null || true)" ]; then
    say "cancelling leftover jobs"
    timeout 10 scancel --full --user=root 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      [ -z "$(timeout 10 squeue -h -o %i 2>/dev/null || true)" ] && break
      sleep 0.2
    done
  fi
  for ((i = ${#DAEMONS[@]} - 1; i >= 0; i--)); do
    stop_one "${DAEMONS[$i]}"
  done
  say "stopped (state kept in $STATE)"
}

case ${1:-} in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status || exit 1 ;;
  -h | --help | help) sed -n '2,/^set -Eeuo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' ;;
  *) echo "usage: $0 start|stop|status (see --help)" >&2; exit 2 ;;
esac
