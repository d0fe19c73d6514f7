#!/usr/bin/env bash
# slurm-cluster.sh -- a real, throw-away, single-node SLURM cluster for tests.
#
# Usage:
#   tools/slurm-cluster.sh up     [STATE_DIR]   # install if needed, start, smoke-test
#   tools/slurm-cluster.sh down   [STATE_DIR]   # stop exactly the daemons `up` started
#   tools/slurm-cluster.sh status [STATE_DIR]   # which daemons run, sinfo, squeue
#
# STATE_DIR defaults to /tmp/ferflow-slurm. Everything lives there:
#   slurm.conf gres.conf slurmdbd.conf env.sh   configuration (+ the client env line)
#   munge/   key, socket and seed of our own munged
#   mysql/   MariaDB data dir (our own mariadbd on 127.0.0.1:$FERFLOW_SLURM_DB_PORT)
#   spool/   slurmctld StateSaveLocation and slurmd SlurmdSpoolDir
#   run/     pid files (one per daemon started here), sockets, markers
#   log/     daemon logs (kept by `down`)
#   smoke/   output of the smoke-test jobs
#
# Clients need exactly one thing:  export SLURM_CONF=$STATE_DIR/slurm.conf
# (`up` prints that line and writes it to $STATE_DIR/env.sh). slurm.conf names
# our munge socket (AuthInfo=socket=... and, for the slurmdbd connection,
# AccountingStoragePass=...), our slurmctld/slurmdbd ports, etc.
#
# The one write outside STATE_DIR: /etc/slurm/slurm.conf is made a symlink to
# $STATE_DIR/slurm.conf when that path is free. It is needed because the
# snakemake slurm plugins strip every SLURM_* variable (SLURM_CONF included)
# before calling `srun` inside a job (snakemake-executor-plugin-slurm-jobstep)
# or when snakemake itself runs inside a job (snakemake-executor-plugin-slurm);
# srun then falls back to the compiled-in /etc/slurm/slurm.conf. `down` removes
# the link only if `up` created it and it still points at our file. Set
# FERFLOW_SLURM_ETC_LINK=0 to skip it. (The Debian packages install nothing
# at that path.)
#
# Design notes:
# * No systemd: every daemon is started by hand, as root (SlurmUser=root), and
#   writes a pid file under run/. `down` signals only pids from those files,
#   and only after checking /proc that the process really belongs to this
#   STATE_DIR (its command line or SLURM_CONF mentions it), so a recycled pid
#   is never hit. Left-over slurmstepd processes of our slurmd are found the
#   same way (they inherit slurmd's SLURM_CONF).
# * Munge: our own munged with its own key, socket, pid, log and seed files
#   under STATE_DIR/munge, run as root with --force (which turns munged's
#   refusals over file/directory permissions, e.g. a STATE_DIR under a
#   group-writable parent, or a stale socket, into warnings). The key is always
#   our own random one, never /etc/munge/munge.key: nothing outside this
#   cluster has to decode its credentials. Slurm daemons and clients find the
#   socket through AuthInfo=socket=... in slurm.conf and slurmdbd.conf (plus
#   AccountingStoragePass=... for the slurmdbd link, see write_configs), so
#   the system munge (/etc/munge, /run/munge) is neither needed nor touched.
# * MariaDB: mariadb-install-db into STATE_DIR/mysql, mariadbd on its own
#   unix socket and a loopback TCP port (slurmdbd has no socket option, so it
#   connects over TCP to 127.0.0.1).
# * One fake GPU: GresTypes=gpu, node Gres=gpu:1, gres.conf
#   "Name=gpu File=/dev/null". Slurm 22.05's gres/gpu silently drops a GPU
#   with no File= ("Removing file-less GPU gpu:(null) from final GRES list",
#   then the node goes INVAL/DRAIN "gres/gpu count reported lower than
#   configured"), so File= must name an existing character device; /dev/null
#   is one and always exists. With TaskPlugin=task/none nothing opens or
#   fences it. More fake GPUs would need more distinct character devices.
# * State (job ids, accounting DB) survives down/up, so job ids never repeat
#   within one STATE_DIR. Remove STATE_DIR after `down` for a clean slate.
#
# Environment knobs (defaults in brackets): FERFLOW_SLURM_DB_PORT [3307],
# FERFLOW_SLURMCTLD_PORT [6817], FERFLOW_SLURMD_PORT [6818],
# FERFLOW_SLURMDBD_PORT [6819], FERFLOW_SLURM_ETC_LINK [1],
# FERFLOW_SLURM_SMOKE [1] (0 skips the smoke job), FERFLOW_SLURM_USERS
# [extra users to add to the account, space separated].

set -Eeuo pipefail

PROG=slurm-cluster
CLUSTER=ferflow
ACCOUNT=ferflow-test
PARTITION=gpu
DB_NAME=slurm_acct_db
DB_USER=slurm
PACKAGES=(munge slurmctld slurmd slurm-client slurmdbd mariadb-server mariadb-client)
# Order matters: `up` starts them in this order, `down` stops them in reverse.
DAEMONS=(munged mariadbd slurmdbd slurmctld slurmd)

die() { echo "$PROG: error: $*" >&2; exit 1; }
log() { echo "$PROG: $*"; }
trap 'rc=$?; echo "$PROG: error: command failed (exit $rc) at line $LINENO: $BASH_COMMAND" >&2; exit "$rc"' ERR

usage() {
  echo "usage: $0 {up|down|status} [STATE_DIR]   (default STATE_DIR: /tmp/ferflow-slurm)" >&2
  exit 2
}

# ---------------------------------------------------------------- settings --
setup_paths() {
  STATE_DIR=$(realpath -m -- "${1:-/tmp/ferflow-slurm}")
  CONF=$STATE_DIR/slurm.conf
  GRES_CONF=$STATE_DIR/gres.conf
  DBD_CONF=$STATE_DIR/slurmdbd.conf
  ENV_FILE=$STATE_DIR/env.sh
  RUN_DIR=$STATE_DIR/run
  LOG_DIR=$STATE_DIR/log
  SPOOL_DIR=$STATE_DIR/spool
  MUNGE_DIR=$STATE_DIR/munge
  MUNGE_SOCKET=$MUNGE_DIR/munge.socket.2
  DB_DIR=$STATE_DIR/mysql
  DB_SOCKET=$RUN_DIR/mysqld.sock
  DB_PASS_FILE=$STATE_DIR/db.pass
  SMOKE_DIR=$STATE_DIR/smoke
  ETC_CONF=/etc/slurm/slurm.conf
  ETC_MARK=$RUN_DIR/etc-link

  DB_PORT=${FERFLOW_SLURM_DB_PORT:-3307}
  CTLD_PORT=${FERFLOW_SLURMCTLD_PORT:-6817}
  SLURMD_PORT=${FERFLOW_SLURMD_PORT:-6818}
  DBD_PORT=${FERFLOW_SLURMDBD_PORT:-6819}

  NODE=$(hostname -s)
  # Unix socket paths are limited to 107 bytes.
  (( ${#MUNGE_SOCKET} < 100 )) || die "STATE_DIR path too long for a unix socket: $STATE_DIR"
  # Everything below (daemons, clients) reads our config through this.
  export SLURM_CONF=$CONF
}

# ------------------------------------------------------------- processes ---
# Print the pid of daemon $1 if its pid file names a live (non-zombie) process
# that belongs to this STATE_DIR; fail otherwise.
daemon_pid() {
  local f=$RUN_DIR/$1.pid pid
  [[ -s $f ]] || return 1
  pid=$(tr -cd '0-9' <"$f")
  [[ -n $pid ]] && is_ours "$pid" || return 1
  echo "$pid"
}

# True if pid $1 is alive, not a zombie, and its command line or environment
# mentions STATE_DIR (as cmdline args, or SLURM_CONF=$CONF for slurm daemons).
is_ours() {
  local pid=$1 stat
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  stat=${stat##*) }                       # drop "pid (comm) " prefix
  [[ ${stat:0:1} != Z ]] || return 1
  tr '\0' '\n' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "$STATE_DIR/" && return 0
  tr '\0' '\n' 2>/dev/null <"/proc/$pid/environ" | grep -qxF -- "SLURM_CONF=$CONF"
}

# Wait up to $1 seconds for the command "${@:2}" to succeed (quietly).
wait_for() {
  local timeout=$1 end
  shift
  end=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < end)) || return 1
    sleep 0.5
  done
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

show_logs() {
  local f
  for f in "$LOG_DIR"/{munged,mariadb,slurmdbd,slurmctld,slurmd}.log; do
    [[ -f $f ]] || continue
    echo "----- tail of $f -----" >&2
    tail -n 15 "$f" >&2
  done
}

# Fail with the daemon logs' tails printed first.
die_logs() { show_logs; die "$*"; }

# Wait until daemon $1 has written a pid file for a live process of ours.
wait_daemon() {
  wait_for "${2:-30}" daemon_pid "$1" || die_logs "$1 did not start (no live pid in $RUN_DIR/$1.pid)"
}

# Fail before starting anything if a port we are about to listen on is taken
# (e.g. by a cluster in another STATE_DIR); ports of our own running daemons
# are fine.
check_ports() {
  local spec d port var
  for spec in mariadbd:$DB_PORT:FERFLOW_SLURM_DB_PORT slurmdbd:$DBD_PORT:FERFLOW_SLURMDBD_PORT \
    slurmctld:$CTLD_PORT:FERFLOW_SLURMCTLD_PORT slurmd:$SLURMD_PORT:FERFLOW_SLURMD_PORT; do
    IFS=: read -r d port var <<<"$spec"
    daemon_pid "$d" >/dev/null && continue
    ! port_busy "$port" || die "port $port ($d) is already in use on 127.0.0.1; set $var"
  done
}

# -------------------------------------------------------------- install ----
install_packages() {
  local missing=() p status
  for p in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ $status == "install ok installed" ]] || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  log "installing ${missing[*]} (apt)"
  local t0=$SECONDS made_policy=0
  # Keep package scripts from starting daemons (Debian's policy-rc.d
  # convention); only if no policy is in place already, removed afterwards.
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  local rc=0
  {
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "${missing[@]}" >"$LOG_DIR/apt.log" 2>&1 ||
      { apt-get update -q >>"$LOG_DIR/apt.log" 2>&1 &&
        apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$LOG_DIR/apt.log" 2>&1; }
  } || rc=$?
  ((made_policy)) && rm -f /usr/sbin/policy-rc.d
  ((rc == 0)) || { tail -n 15 "$LOG_DIR/apt.log" >&2; die "apt-get install failed (see $LOG_DIR/apt.log)"; }
  log "apt took $((SECONDS - t0)) s"
}

# ------------------------------------------------------------- configs -----
write_configs() {
  local cpus mem_kb real_mem def_mem
  # nproc obeys OMP_NUM_THREADS / OMP_THREAD_LIMIT (a Snakemake job or a test may set
  # them); the node gets every core this process may use.
  cpus=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
  mem_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
  real_mem=$((mem_kb * 95 / 100 / 1024))          # MB, a bit under MemTotal
  def_mem=$((real_mem / cpus < 1024 ? real_mem / cpus : 1024))

  cat >"$CONF" <<EOF
# Generated by tools/slurm-cluster.sh -- single-node test cluster.
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$SPOOL_DIR/slurmctld
SlurmdSpoolDir=$SPOOL_DIR/slurmd
SlurmctldPidFile=$RUN_DIR/slurmctld.pid
SlurmdPidFile=$RUN_DIR/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
DefMemPerCPU=$def_mem
GresTypes=gpu
# Accounting through our slurmdbd (the snakemake slurm plugin polls sacct).
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$DBD_PORT
# For the slurmdbd connection Slurm ignores AuthInfo and takes the munge
# socket from AccountingStoragePass instead (slurm.conf(5)).
AccountingStoragePass=$MUNGE_SOCKET
AccountingStorageTRES=gres/gpu
AccountingStorageEnforce=associations
# keep --comment (the snakemake plugin puts rule and wildcards there) for sacct
AccountingStoreFlags=job_comment
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
JobCompType=jobcomp/none
# Short timeouts so the cluster comes up and settles fast.
SlurmctldTimeout=30
SlurmdTimeout=30
MessageTimeout=10
BatchStartTimeout=10
KillWait=5
InactiveLimit=0
MinJobAge=300
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$real_mem Gres=gpu:1 State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
  chmod 644 "$CONF"

  cat >"$GRES_CONF" <<EOF
# One fake GPU. gres/gpu drops GPUs without File=, and File= must be an
# existing character device: /dev/null stands in for /dev/nvidia0.
Name=gpu File=/dev/null
EOF
  chmod 644 "$GRES_CONF"

  if [[ ! -s $DB_PASS_FILE ]]; then
    (umask 077; head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DB_PASS_FILE")
  fi
  (umask 077; cat >"$DBD_CONF" <<EOF
# Generated by tools/slurm-cluster.sh
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
PidFile=$RUN_DIR/slurmdbd.pid
LogFile=$LOG_DIR/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=$DB_USER
StoragePass=$(<"$DB_PASS_FILE")
StorageLoc=$DB_NAME
EOF
  )
  chown root:root "$DBD_CONF"
  chmod 600 "$DBD_CONF"

  printf '# Source this file to use the test cluster: . %s\nexport SLURM_CONF=%s\n' \
    "$ENV_FILE" "$CONF" >"$ENV_FILE"
}

# /etc/slurm/slurm.conf -> $CONF, for clients whose SLURM_CONF was stripped
# (see header). Only when the path is free or already our link.
link_etc_conf() {
  [[ ${FERFLOW_SLURM_ETC_LINK:-1} != 0 ]] || return 0
  if [[ -L $ETC_CONF && $(readlink -- "$ETC_CONF") == "$CONF" ]]; then
    [[ -e $ETC_MARK ]] || echo "$CONF" >"$ETC_MARK"
    return 0
  fi
  if [[ -e $ETC_CONF || -L $ETC_CONF ]]; then
    echo "$PROG: warning: $ETC_CONF exists and is not ours; clients without SLURM_CONF (srun inside snakemake jobs) will use it" >&2
    return 0
  fi
  mkdir -p "$(dirname "$ETC_CONF")"
  ln -s -- "$CONF" "$ETC_CONF"
  echo "$CONF" >"$ETC_MARK"
}

unlink_etc_conf() {
  [[ -e $ETC_MARK ]] || return 0
  if [[ -L $ETC_CONF && $(readlink -- "$ETC_CONF") == "$CONF" ]]; then
    rm -f -- "$ETC_CONF"
    rmdir --ignore-fail-on-non-empty "$(dirname "$ETC_CONF")" 2>/dev/null || true
  fi
  rm -f -- "$ETC_MARK"
}

# -------------------------------------------------------------- daemons ----
start_munged() {
  daemon_pid munged >/dev/null && return 0
  if [[ ! -s $MUNGE_DIR/munge.key ]]; then
    (umask 077; head -c 1024 /dev/urandom >"$MUNGE_DIR/munge.key")
  fi
  chmod 600 "$MUNGE_DIR/munge.key"
  rm -f "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock"
  munged --force \
    --key-file="$MUNGE_DIR/munge.key" \
    --socket="$MUNGE_SOCKET" \
    --pid-file="$RUN_DIR/munged.pid" \
    --log-file="$LOG_DIR/munged.log" \
    --seed-file="$MUNGE_DIR/munged.seed" </dev/null >>"$LOG_DIR/munged.log" 2>&1 9>&- ||
    die_logs "munged failed to start"
  wait_daemon munged
  wait_for 10 test -S "$MUNGE_SOCKET" || die_logs "munged socket $MUNGE_SOCKET did not appear"
}

db_sql() { mariadb --no-defaults --socket="$DB_SOCKET" -uroot -e "$1"; }

start_mariadbd() {
  if ! daemon_pid mariadbd >/dev/null; then
    if [[ ! -d $DB_DIR/mysql ]]; then
      log "initialising MariaDB data dir $DB_DIR"
      rm -rf -- "$DB_DIR"
      mariadb-install-db --no-defaults --datadir="$DB_DIR" --user=root \
        --auth-root-authentication-method=socket --skip-test-db \
        >>"$LOG_DIR/mariadb-install.log" 2>&1 || die_logs "mariadb-install-db failed"
    fi
    ! port_busy "$DB_PORT" || die "port $DB_PORT (MariaDB) is in use; set FERFLOW_SLURM_DB_PORT"
    rm -f "$DB_SOCKET"
    # mariadbd does not daemonize itself: detach it with setsid.
    setsid mariadbd --no-defaults --user=root \
      --datadir="$DB_DIR" --socket="$DB_SOCKET" --pid-file="$RUN_DIR/mariadbd.pid" \
      --port="$DB_PORT" --bind-address=127.0.0.1 --skip-name-resolve \
      --log-error="$LOG_DIR/mariadb.log" --tmpdir="$STATE_DIR/tmp" \
      --innodb-buffer-pool-size=128M --innodb-log-file-size=64M \
      --innodb-lock-wait-timeout=900 --innodb-use-native-aio=0 \
      </dev/null >>"$LOG_DIR/mariadb.log" 2>&1 9>&- &
    wait_daemon mariadbd 60
  fi
  wait_for 60 mariadb-admin --no-defaults --socket="$DB_SOCKET" -uroot ping ||
    die_logs "MariaDB did not answer on $DB_SOCKET"
  local pw
  pw=$(<"$DB_PASS_FILE")
  db_sql "CREATE DATABASE IF NOT EXISTS $DB_NAME;
    CREATE USER IF NOT EXISTS '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$pw';
    CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$pw';
    ALTER USER '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$pw';
    ALTER USER '$DB_USER'@'localhost' IDENTIFIED BY '$pw';
    GRANT ALL PRIVILEGES ON $DB_NAME.* TO '$DB_USER'@'127.0.0.1';
    GRANT ALL PRIVILEGES ON $DB_NAME.* TO '$DB_USER'@'localhost';" ||
    die_logs "could not create the slurmdbd database/user in MariaDB"
}

start_slurmdbd() {
  if ! daemon_pid slurmdbd >/dev/null; then
    ! port_busy "$DBD_PORT" || die "port $DBD_PORT (slurmdbd) is in use; set FERFLOW_SLURMDBD_PORT"
    # slurmdbd reads slurmdbd.conf from the directory of $SLURM_CONF.
    slurmdbd </dev/null >>"$LOG_DIR/slurmdbd.log" 2>&1 9>&- || die_logs "slurmdbd failed to start"
    wait_daemon slurmdbd
  fi
  wait_for 60 sacctmgr -n -P list cluster format=Cluster ||
    die_logs "slurmdbd did not answer sacctmgr within 60 s"
}

# Cluster, account and user associations, added before slurmctld starts so it
# loads them at start-up. Each step only if missing.
setup_accounting() {
  if ! sacctmgr -n -P list cluster format=Cluster | grep -qx "$CLUSTER"; then
    sacctmgr -i add cluster "$CLUSTER" >/dev/null
  fi
  if ! sacctmgr -n -P list account "$ACCOUNT" format=Account | grep -qx "$ACCOUNT"; then
    sacctmgr -i add account "$ACCOUNT" cluster="$CLUSTER" \
      Description="ferflow tests" Organization=ferflow >/dev/null
  fi
  local users=(root) u
  users+=("$(id -un)")
  [[ -n ${SUDO_USER:-} ]] && users+=("$SUDO_USER")
  # shellcheck disable=SC2206  # deliberate word splitting of the user list
  [[ -n ${FERFLOW_SLURM_USERS:-} ]] && users+=(${FERFLOW_SLURM_USERS})
  for u in $(printf '%s\n' "${users[@]}" | sort -u); do
    if ! sacctmgr -n -P list assoc cluster="$CLUSTER" account="$ACCOUNT" user="$u" format=User |
      grep -qx "$u"; then
      sacctmgr -i add user "$u" account="$ACCOUNT" cluster="$CLUSTER" >/dev/null
    fi
  done
}

# shellcheck disable=SC2317  # called through wait_for
ctld_up() { scontrol ping 2>/dev/null | grep -q 'is UP'; }

start_slurmctld() {
  if ! daemon_pid slurmctld >/dev/null; then
    ! port_busy "$CTLD_PORT" || die "port $CTLD_PORT (slurmctld) is in use; set FERFLOW_SLURMCTLD_PORT"
    slurmctld -f "$CONF" </dev/null >>"$LOG_DIR/slurmctld.log" 2>&1 9>&- || die_logs "slurmctld failed to start"
    wait_daemon slurmctld
  fi
  wait_for 30 ctld_up || die_logs "slurmctld does not answer 'scontrol ping'"
}

start_slurmd() {
  if ! daemon_pid slurmd >/dev/null; then
    ! port_busy "$SLURMD_PORT" || die "port $SLURMD_PORT (slurmd) is in use; set FERFLOW_SLURMD_PORT"
    slurmd -f "$CONF" </dev/null >>"$LOG_DIR/slurmd.log" 2>&1 9>&- || die_logs "slurmd failed to start"
    wait_daemon slurmd
  fi
}

node_state() { sinfo -h -N -n "$NODE" -o %T 2>/dev/null | head -n1; }

wait_node_idle() {
  local end=$((SECONDS + 60)) state resumed=0
  while :; do
    state=$(node_state || true)
    case $state in
      idle | mixed | allocated | completing) return 0 ;;
      drain*)
        # A drain left over from an earlier run: resume it once.
        if ((!resumed)); then
          scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true
          resumed=1
        fi ;;
    esac
    if ((SECONDS >= end)); then
      sinfo -R >&2 || true
      die_logs "node $NODE not idle after 60 s (state: ${state:-unknown})"
    fi
    sleep 0.5
  done
}

# --------------------------------------------------------------- smoke -----
# Wait for job $1 to reach a final state in sacct; print that state.
sacct_final_state() {
  local id=$1 end=$((SECONDS + ${2:-60})) st
  while :; do
    st=$(sacct -j "$id" -X -n -P -o State 2>/dev/null | head -n1 || true)
    case $st in
      COMPLETED | FAILED | CANCELLED* | TIMEOUT | OUT_OF_MEMORY | NODE_FAIL | BOOT_FAIL | DEADLINE | PREEMPTED)
        echo "$st"; return 0 ;;
    esac
    ((SECONDS < end)) || { echo "${st:-NONE}"; return 1; }
    sleep 0.5
  done
}

smoke_test() {
  [[ ${FERFLOW_SLURM_SMOKE:-1} != 0 ]] || return 0
  local id st tres
  mkdir -p "$SMOKE_DIR"
  # shellcheck disable=SC2016  # $CUDA_VISIBLE_DEVICES is expanded in the job
  id=$(sbatch --parsable --gpus=1 -A "$ACCOUNT" -p "$PARTITION" -J ferflow-smoke \
    -D "$SMOKE_DIR" -o "$SMOKE_DIR/slurm-%j.out" \
    --wrap 'echo ok; echo CUDA=$CUDA_VISIBLE_DEVICES') || die_logs "smoke sbatch failed"
  id=${id%%;*}
  log "smoke job $id submitted (--gpus=1 -A $ACCOUNT -p $PARTITION)"
  st=$(sacct_final_state "$id" 60) || die_logs "smoke job $id did not finish within 60 s (sacct: $st)"
  [[ $st == COMPLETED ]] || die_logs "smoke job $id ended $st, expected COMPLETED"
  tres=$(sacct -j "$id" -X -n -P -o AllocTRES)
  [[ $tres == *gres/gpu=1* ]] || die "smoke job $id AllocTRES lacks gres/gpu=1: $tres"
  grep -qx ok "$SMOKE_DIR/slurm-$id.out" || die "smoke job $id output lacks 'ok' ($SMOKE_DIR/slurm-$id.out)"
  log "smoke job $id: sacct State=$st AllocTRES=$tres"
  sed "s/^/$PROG:   job $id> /" "$SMOKE_DIR/slurm-$id.out"
}

# ------------------------------------------------------------- commands ----
all_running() {
  local d
  for d in "${DAEMONS[@]}"; do daemon_pid "$d" >/dev/null || return 1; done
}

cmd_up() {
  local t0=$SECONDS
  [[ $(id -u) == 0 ]] || die "must run as root (installs packages, runs daemons as SlurmUser=root)"
  mkdir -p "$STATE_DIR" "$RUN_DIR" "$LOG_DIR" "$SPOOL_DIR/slurmctld" "$SPOOL_DIR/slurmd" \
    "$MUNGE_DIR" "$STATE_DIR/tmp"
  chmod 755 "$STATE_DIR" "$RUN_DIR" "$MUNGE_DIR"
  if all_running; then
    log "already up (STATE_DIR=$STATE_DIR)"
    echo "export SLURM_CONF=$CONF"
    return 0
  fi
  check_ports
  install_packages
  write_configs
  link_etc_conf
  start_munged
  start_mariadbd
  start_slurmdbd
  setup_accounting
  start_slurmctld
  start_slurmd
  wait_node_idle
  log "daemons up, node $NODE $(node_state) after $((SECONDS - t0)) s"
  smoke_test
  log "up took $((SECONDS - t0)) s (STATE_DIR=$STATE_DIR); clients need:"
  echo "export SLURM_CONF=$CONF"
}

# TERM pid $2 (daemon name $1), wait up to $3 s, then KILL.
stop_pid() {
  local name=$1 pid=$2 timeout=$3 end
  kill -TERM "$pid" 2>/dev/null || return 0
  end=$((SECONDS + timeout))
  while is_ours "$pid"; do
    if ((SECONDS >= end)); then
      echo "$PROG: warning: $name (pid $pid) ignored TERM for $timeout s; sending KILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.2
  done
  log "stopped $name (pid $pid)"
}

# shellcheck disable=SC2317  # called through wait_for
queue_empty() { [[ -z $(squeue -h -o %i 2>/dev/null) ]]; }

# slurmstepd processes of our slurmd (they carry its SLURM_CONF).
our_stepds() {
  local p
  for p in /proc/[0-9]*; do
    [[ $(cat "$p/comm" 2>/dev/null) == slurmstepd ]] || continue
    tr '\0' '\n' 2>/dev/null <"$p/environ" | grep -qxF -- "SLURM_CONF=$CONF" && echo "${p#/proc/}"
  done
  return 0
}

cmd_down() {
  local d pid i grace
  # Cancel jobs first so their slurmstepd/job processes end cleanly.
  if daemon_pid slurmctld >/dev/null; then
    local jobs
    jobs=$(squeue -h -o %i 2>/dev/null || true)
    if [[ -n $jobs ]]; then
      log "cancelling jobs: $(echo "$jobs" | tr '\n' ' ')"
      # shellcheck disable=SC2086  # job ids, one per word
      scancel $jobs 2>/dev/null || true
      wait_for 20 queue_empty || echo "$PROG: warning: jobs still listed after scancel + 20 s" >&2
    fi
  fi
  for ((i = ${#DAEMONS[@]} - 1; i >= 0; i--)); do
    d=${DAEMONS[i]}
    if pid=$(daemon_pid "$d"); then
      grace=15
      [[ $d != mariadbd ]] || grace=60       # let InnoDB shut down cleanly
      stop_pid "$d" "$pid" "$grace"
    fi
    rm -f "$RUN_DIR/$d.pid"
  done
  for pid in $(our_stepds); do stop_pid slurmstepd "$pid" 5; done
  unlink_etc_conf
  rm -f "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock" "$DB_SOCKET"
  log "down (logs kept in $LOG_DIR)"
}

cmd_status() {
  local d pid up=0
  echo "STATE_DIR=$STATE_DIR"
  for d in "${DAEMONS[@]}"; do
    if pid=$(daemon_pid "$d"); then
      printf '  %-10s running (pid %s)\n' "$d" "$pid"
      up=$((up + 1))
    else
      printf '  %-10s stopped\n' "$d"
    fi
  done
  if daemon_pid slurmctld >/dev/null; then
    echo "export SLURM_CONF=$CONF"
    sinfo || true
    squeue || true
  fi
  # Exit status for main: 0 all up, 3 otherwise (like LSB status).
  ((up == ${#DAEMONS[@]})) || STATUS_RC=3
}

main() {
  (($# >= 1 && $# <= 2)) || usage
  local cmd=$1
  setup_paths "${2:-}"
  case $cmd in
    up | down | status) ;;
    *) usage ;;
  esac
  if [[ $cmd != up && ! -d $STATE_DIR ]]; then
    log "no cluster state in $STATE_DIR (never up there)"
    [[ $cmd == status ]] && exit 3
    exit 0
  fi
  # Serialise concurrent invocations on the same STATE_DIR. Daemons are
  # started with fd 9 closed, or they would keep holding this lock.
  if [[ $cmd != status ]]; then
    mkdir -p "$STATE_DIR"
    exec 9>"$STATE_DIR/.lock"
    flock -w 300 9 || die "another $PROG run holds $STATE_DIR/.lock"
  fi
  STATUS_RC=0
  case $cmd in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
  esac
  exit "$STATUS_RC"
}

main "$@"
