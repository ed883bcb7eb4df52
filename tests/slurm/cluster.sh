#!/bin/sh
# cluster.sh - a real Slurm cluster on this one machine, for tests and by
# hand: one network + UTS namespace per node (hostname nodeX) joined by a
# bridge inside a private "head" namespace that runs slurmctld and every
# client, one munged with a private key, and every file (keys, sockets,
# configuration, spool, logs, pid files, hosts file) under one directory.
# Daemons and commands see the cluster's hosts file on /etc/hosts through a
# private mount namespace; nothing is added to the root network namespace or
# to the real /etc.  This file owns the cluster's whole life:
#
#   cluster.sh start  DIR [NODES [CPUS_PER_NODE]]  (default 3 nodes x 2 CPUs)
#   cluster.sh run    DIR CMD...         a Slurm client (srun, sbatch, ...) in the head
#   cluster.sh exec   DIR NODE CMD...    CMD inside NODE's namespaces (node1, head)
#   cluster.sh status DIR                sinfo and the daemons; 0 if all are up
#   cluster.sh stop   DIR                ends everything; idempotent, also after a
#                                        failed start; 1 if something stayed
#   cluster.sh list                      the clusters running on this machine
#
# Needs root (namespaces, bind mounts).  Namespace names carry a random id
# recorded in DIR/cluster.env, so several clusters can run at once.
set -eu

CL_NET=10.251.0                # the cluster's private /24, only inside its namespaces
CL_HEAD_IP=$CL_NET.254
CL_MAX_NODES=64                # tested up to 8

cl_die() {
    echo "cluster.sh: $*" >&2
    exit 1
}

cl_usage() {
    sed -n 's/^#   cluster.sh /  cluster.sh /p' "$0" >&2
    exit 2
}

# ---- the cluster's directory and recorded state --------------------------

cl_dir_set() { # DIR [make]
    [ -n "$1" ] || cl_usage
    [ -z "${2:-}" ] || mkdir -p "$1"
    [ -d "$1" ] || cl_die "no directory $1"
    DIR=$(cd "$1" && pwd -P)
    CL_ENV=$DIR/cluster.env
}

cl_load() {
    [ -f "$CL_ENV" ] || cl_die "$DIR holds no cluster (no cluster.env)"
    # shellcheck source=/dev/null
    . "$CL_ENV"
}

cl_record() {
    echo "$1" >>"$CL_ENV"
}

cl_nodes() {
    seq -f 'node%g' 1 "$NODES"
}

cl_ns() { # NODE -> its network namespace's name
    echo "rmpi-$CL_ID-$1"
}

cl_uts() { # NODE -> the file that keeps its UTS namespace (named like the netns)
    echo "$DIR/ns/rmpi-$CL_ID-$1.uts"
}

# Without cluster.env (a test killed hard, its directory half removed), the
# cluster is what DIR/ns/rmpi-ID-NODE.uts names: those files are mount
# points, which rm -rf cannot remove.
cl_recover() {
    for f in "$DIR"/ns/rmpi-*-head.uts; do
        [ -e "$f" ] || return 1
        CL_ID=${f##*/rmpi-}
        CL_ID=${CL_ID%-head.uts}
        break
    done
    NODES=0
    for f in "$DIR/ns/rmpi-$CL_ID"-node*.uts; do [ ! -e "$f" ] || NODES=$((NODES + 1)); done
    CL_NS="head $(seq -f 'node%g' 1 "$NODES" | tr '\n' ' ')"
    echo "cluster.sh: no cluster.env in $DIR: stopping cluster $CL_ID ($NODES nodes) from DIR/ns"
}

# ---- entering a node -----------------------------------------------------

# Runs CMD in NODE's network and UTS namespaces and a private mount
# namespace whose /etc/hosts is the cluster's.  SLURM_* of an enclosing job
# are dropped; what the cluster's daemons and jobs need is set.
cl_enter() {
    node=$1
    shift
    for v in $(env | sed -n 's/^\(SLURM_[A-Za-z0-9_]*\)=.*/\1/p'); do unset "$v"; done
    SLURM_CONF=$DIR/slurm.conf
    OMPI_ALLOW_RUN_AS_ROOT=1
    OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    OMPI_MCA_orte_tmpdir_base=$DIR/tmp # mpirun's session dirs (srun's: TmpFS)
    export SLURM_CONF OMPI_ALLOW_RUN_AS_ROOT OMPI_ALLOW_RUN_AS_ROOT_CONFIRM
    export OMPI_MCA_orte_tmpdir_base
    exec nsenter --net="/run/netns/$(cl_ns "$node")" --uts="$(cl_uts "$node")" -- \
        unshare --mount --propagation private -- \
        sh -c 'mount --bind "$1" /etc/hosts || exit 125; shift; exec "$@"' \
        sh "$DIR/hosts" "$@"
}

# ---- start ---------------------------------------------------------------

cl_check_tools() {
    [ "$(id -u)" -eq 0 ] || cl_die "needs root (network namespaces, bind mounts)"
    for t in ip nsenter unshare munged mungekey slurmctld slurmd sinfo; do
        command -v "$t" >/dev/null 2>&1 || cl_die "$t not found (scripts/deps.sh installs it)"
    done
}

cl_layout() {
    [ ! -f "$CL_ENV" ] || cl_die "$DIR already holds a cluster: cluster.sh stop $DIR first"
    case $NODES in '' | *[!0-9]*) cl_die "NODES must be 1..$CL_MAX_NODES" ;; esac
    case $CPUS in '' | *[!0-9]* | 0) cl_die "CPUS_PER_NODE must be a positive number" ;; esac
    if [ "$NODES" -lt 1 ] || [ "$NODES" -gt $CL_MAX_NODES ]; then
        cl_die "NODES must be 1..$CL_MAX_NODES"
    fi
    # A unix socket path holds 107 bytes.
    [ ${#DIR} -le 80 ] || cl_die "DIR's path is too long for munge's socket: $DIR"
    mkdir -p "$DIR/ns" "$DIR/munge" "$DIR/ctld" "$DIR/tmp"
    chmod 755 "$DIR/munge"
    for n in $(cl_nodes); do mkdir -p "$DIR/node/$n/spool" "$DIR/node/$n/tmp"; done
    {
        echo "CL_ID=$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"
        echo "NODES=$NODES"
        echo "CPUS=$CPUS"
    } >"$CL_ENV"
    [ -d /run/netns ] || cl_record "CL_MADE_RUN_NETNS=1"
}

cl_hosts_write() {
    {
        echo "127.0.0.1 localhost"
        echo "$CL_HEAD_IP head"
        i=1
        for n in $(cl_nodes); do
            echo "$CL_NET.$i $n"
            i=$((i + 1))
        done
    } >"$DIR/hosts"
}

# A namespace for NODE: loopback up, its own hostname (a UTS namespace kept
# alive by a bind mount on DIR/ns/rmpi-ID-NODE.uts).
cl_ns_add() {
    cl_record "CL_NS=\"\${CL_NS:-} $1\""
    ip netns add "$(cl_ns "$1")"
    ip -n "$(cl_ns "$1")" link set lo up
    : >"$(cl_uts "$1")"
    unshare --uts="$(cl_uts "$1")" hostname "$1"
}

cl_net_start() {
    head=$(cl_ns head)
    cl_ns_add head
    ip -n "$head" link add br0 type bridge
    ip -n "$head" addr add "$CL_HEAD_IP/24" dev br0
    ip -n "$head" link set br0 up
    i=1
    for n in $(cl_nodes); do
        cl_ns_add "$n"
        # Both ends are made in the head namespace: nothing touches the root one.
        ip -n "$head" link add "v$n" type veth peer name eth0 netns "$(cl_ns "$n")"
        ip -n "$head" link set "v$n" master br0 up
        ip -n "$(cl_ns "$n")" addr add "$CL_NET.$i/24" dev eth0
        ip -n "$(cl_ns "$n")" link set eth0 up
        i=$((i + 1))
    done
}

cl_munge_start() {
    m=$DIR/munge
    mungekey --create --keyfile="$m/munge.key"
    (cl_enter head munged --force --socket="$m/munge.socket" --key-file="$m/munge.key" \
        --pid-file="$m/munged.pid" --log-file="$m/munged.log" --seed-file="$m/munged.seed")
}

cl_conf_write() {
    : >"$DIR/plugstack.conf"
    {
        cat <<EOF
# slurm.conf of the test cluster made by tests/slurm/cluster.sh
ClusterName=raympi
SlurmctldHost=head($CL_HEAD_IP)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge/munge.socket
StateSaveLocation=$DIR/ctld
SlurmctldPidFile=$DIR/ctld/slurmctld.pid
SlurmctldLogFile=$DIR/ctld/slurmctld.log
SlurmdSpoolDir=$DIR/node/%n/spool
SlurmdPidFile=$DIR/node/%n/slurmd.pid
SlurmdLogFile=$DIR/node/%n/slurmd.log
TmpFS=$DIR/node/%n/tmp
PlugStackConfig=$DIR/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
MpiDefault=pmix
MailProg=/bin/true
ReturnToService=2
SchedulerParameters=batch_sched_delay=0
KillWait=2
OverTimeLimit=0
InactiveLimit=0
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
SlurmctldDebug=info
SlurmdDebug=info
EOF
        i=1
        for n in $(cl_nodes); do
            echo "NodeName=$n NodeAddr=$CL_NET.$i CPUs=$CPUS RealMemory=2048 State=UNKNOWN"
            i=$((i + 1))
        done
        echo "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP"
    } >"$DIR/slurm.conf"
}

# slurmctld first (slurmd registers with it), then every slurmd at once.
cl_daemons_start() {
    (cl_enter head slurmctld -f "$DIR/slurm.conf")
    for n in $(cl_nodes); do
        (cl_enter "$n" slurmd -f "$DIR/slurm.conf" -N "$n") &
    done
    wait
}

# Until sinfo shows every node idle (10 s at most).
cl_wait_up() {
    i=0
    while [ $i -lt 200 ]; do
        up=$( (cl_enter head sinfo -h -N -t idle -o %N) 2>/dev/null | sort -u | wc -l)
        [ "$up" -eq "$NODES" ] && return 0
        sleep 0.05
        i=$((i + 1))
    done
    return 1
}

cl_start_failed() {
    echo "cluster.sh: start failed; the last log lines:" >&2
    for f in "$DIR/munge/munged.log" "$DIR/ctld/slurmctld.log" "$DIR"/node/*/slurmd.log; do
        [ -f "$f" ] && tail -n 5 "$f" | sed "s|^|  ${f#"$DIR"/}: |" >&2
    done
    cl_stop >&2 || true
    exit 1
}

cl_start() {
    cl_check_tools
    cl_layout
    # shellcheck source=/dev/null
    . "$CL_ENV"
    trap cl_start_failed EXIT
    trap 'exit 1' INT TERM
    cl_hosts_write
    cl_net_start
    cl_munge_start
    cl_conf_write
    cl_daemons_start
    cl_wait_up || { echo "cluster.sh: nodes did not come up in 10 s" >&2; exit 1; }
    trap - EXIT INT TERM
    echo "cluster.sh: $NODES nodes x $CPUS CPUs up in $DIR (namespaces rmpi-$CL_ID-*)"
}

# ---- stop ----------------------------------------------------------------

cl_alive() { # PID: runs (a zombie, not yet reaped by whoever adopted it, does not)
    [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* (.*) Z ' "/proc/$1/stat" 2>/dev/null
}

cl_ns_inode() { # FILE -> inode of the namespace it holds or names
    stat -L -c %i "$1" 2>/dev/null || echo none
}

# PIDFILE NODE -> its pid if that process runs in NODE's network namespace:
# a stale pid file whose pid was reused names a process of someone else.
cl_pid_of() {
    [ -f "$1" ] || return 0
    p=$(cat "$1" 2>/dev/null || true)
    case $p in '' | *[!0-9]*) return 0 ;; esac
    [ "$p" -gt 1 ] && cl_alive "$p" || return 0
    [ "$(cl_ns_inode "/proc/$p/ns/net")" = "$(cl_ns_inode "/run/netns/$(cl_ns "$2")")" ] &&
        echo "$p"
    return 0
}

cl_daemon_pids() {
    cl_pid_of "$DIR/ctld/slurmctld.pid" head
    for n in $(cl_nodes); do cl_pid_of "$DIR/node/$n/slurmd.pid" "$n"; done
    cl_pid_of "$DIR/munge/munged.pid" head
}

cl_jobs_cancel() {
    [ -n "$(cl_pid_of "$DIR/ctld/slurmctld.pid" head)" ] || return 0
    jobs=$( (cl_enter head squeue -h -o %A) 2>/dev/null || true)
    [ -n "$jobs" ] || return 0
    # shellcheck disable=SC2086 # one job id per word
    (cl_enter head scancel $jobs) 2>/dev/null || true
}

# SIGTERM to every daemon at once, SIGKILL to those alive after 2.5 s.
cl_daemons_stop() {
    pids=$(cl_daemon_pids)
    [ -n "$pids" ] || return 0
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    i=0
    while [ $i -lt 50 ]; do
        alive=""
        for p in $pids; do cl_alive "$p" && alive="$alive $p"; done
        [ -z "$alive" ] && return 0
        sleep 0.05
        i=$((i + 1))
    done
    # shellcheck disable=SC2086
    kill -KILL $alive 2>/dev/null || true
}

# SIGKILL to whatever runs in namespace NS until nothing does (2 s at most);
# job steps outlive slurmd.  Prints the pids that stayed.
cl_ns_kill() {
    i=0
    while [ $i -lt 40 ]; do
        pids=$(ip netns pids "$1" 2>/dev/null || true)
        [ -n "$pids" ] || return 0
        for p in $pids; do [ "$p" -le 1 ] || kill -KILL "$p" 2>/dev/null || true; done
        sleep 0.05
        i=$((i + 1))
    done
    echo "$pids"
}

# Every namespace's processes are killed, then the namespaces go (and with
# them the veths and the bridge).
cl_ns_stop() {
    CL_STUCK=""
    for n in ${CL_NS:-}; do
        ns=$(cl_ns "$n")
        [ -e "/run/netns/$ns" ] || continue
        CL_STUCK="$CL_STUCK $(cl_ns_kill "$ns")"
        ip netns del "$ns" || true
    done
}

cl_mounts_under_dir() {
    awk -v d="$DIR/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo
}

cl_files_stop() {
    for m in $(cl_mounts_under_dir); do umount "$m" 2>/dev/null || umount -l "$m" || true; done
    rm -f "$DIR"/ns/*.uts "$DIR/munge/munge.socket.lock" \
        "$DIR/munge/munged.pid" "$DIR/ctld/slurmctld.pid" "$DIR"/node/*/slurmd.pid
    # munged's socket and the sockets of job steps that were killed
    find "$DIR" -type s -delete 2>/dev/null || true
    rmdir "$DIR/ns" 2>/dev/null || true
    if [ "${CL_MADE_RUN_NETNS:-0}" = 1 ] && [ -d /run/netns ] &&
        [ -z "$(ls -A /run/netns)" ]; then
        ! mountpoint -q /run/netns || umount /run/netns || true
        rmdir /run/netns || true
    fi
}

# What of the cluster is still there: processes, namespaces, mounts, files.
cl_leftovers() {
    for p in $(cl_daemon_pids) ${CL_STUCK:-}; do
        echo "process $p ($(cat "/proc/$p/comm" 2>/dev/null || echo gone))"
    done
    for n in ${CL_NS:-}; do
        [ ! -e "/run/netns/$(cl_ns "$n")" ] || echo "namespace $(cl_ns "$n")"
    done
    for m in $(cl_mounts_under_dir); do echo "mount $m"; done
    for f in "$DIR/munge/munged.pid" "$DIR/ctld/slurmctld.pid" "$DIR"/node/*/slurmd.pid \
        $(find "$DIR" -type s 2>/dev/null); do
        [ ! -e "$f" ] || echo "file $f"
    done
}

cl_stop() {
    if [ -f "$CL_ENV" ]; then
        # shellcheck source=/dev/null
        . "$CL_ENV"
    elif ! cl_recover; then
        echo "cluster.sh: no cluster in $DIR: nothing to stop"
        return 0
    fi
    cl_jobs_cancel
    cl_daemons_stop
    cl_ns_stop
    cl_files_stop
    left=$(cl_leftovers)
    if [ -n "$left" ]; then
        echo "cluster.sh: could not remove:" >&2
        echo "$left" | sed 's/^/  /' >&2
        return 1
    fi
    rm -f "$CL_ENV"
}

# ---- status, run, exec ---------------------------------------------------

# sinfo's view, and every daemon's process: 0 if all run and no node is down.
cl_status() {
    cl_load
    bad=0
    [ -n "$(cl_pid_of "$DIR/munge/munged.pid" head)" ] || { echo "munged: not running"; bad=1; }
    [ -n "$(cl_pid_of "$DIR/ctld/slurmctld.pid" head)" ] || { echo "slurmctld: not running"; return 1; }
    for n in $(cl_nodes); do
        [ -n "$(cl_pid_of "$DIR/node/$n/slurmd.pid" "$n")" ] || { echo "$n: slurmd not running"; bad=1; }
    done
    (cl_enter head sinfo -N -o '%N %T %c') || return 1
    down=$( (cl_enter head sinfo -h -N -t down,drain,fail,unknown,no_respond -o %N) | wc -l)
    [ "$bad" -eq 0 ] && [ "$down" -eq 0 ]
}

# Every cluster of this machine, found by its head's UTS mount: DIR and id.
cl_list() {
    awk '$5 ~ /\/ns\/rmpi-[0-9a-f]+-head\.uts$/ { print $5 }' /proc/self/mountinfo |
        sed 's|^\(.*\)/ns/rmpi-\([0-9a-f]*\)-head\.uts$|\1 (namespaces rmpi-\2-*)|'
}

cl_node_check() {
    [ "$1" = head ] && return 0
    case " $(cl_nodes | tr '\n' ' ') " in *" $1 "*) return 0 ;; esac
    cl_die "no node $1 in this cluster (head, node1..node$NODES)"
}

main() {
    [ "${1:-}" != list ] || { cl_list; exit 0; }
    [ $# -ge 2 ] || cl_usage
    cmd=$1
    if [ "$cmd" = stop ] && [ ! -d "$2" ]; then
        echo "cluster.sh: no directory $2: nothing to stop"
        exit 0
    fi
    if [ "$cmd" = start ]; then cl_dir_set "$2" make; else cl_dir_set "$2"; fi
    shift 2
    case $cmd in
    start)
        NODES=${1:-3} CPUS=${2:-2}
        cl_start
        ;;
    stop) cl_stop ;;
    status) cl_status ;;
    run)
        [ $# -ge 1 ] || cl_usage
        cl_load
        cl_enter head "$@"
        ;;
    exec)
        [ $# -ge 2 ] || cl_usage
        cl_load
        cl_node_check "$1"
        cl_enter "$@"
        ;;
    *) cl_usage ;;
    esac
}

main "$@"
