# lib.sh - sourced by the Slurm tests: a 3-node cluster (cluster.sh) under
# the run's private TMPDIR, TAP points, and the probes the checks share
# (job states, a job's processes by a tag in their environment, what is
# left in the nodes' namespaces, /dev/shm and the cluster's own traces).
# Needs root; t_setup says the test is skipped otherwise.
cluster=$here/cluster.sh

# t_setup TAG-PREFIX: the work directory, the cluster's, and teardown on
# any exit; exits with a SKIP plan when not root.
t_setup() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "1..0 # SKIP needs root (network namespaces)"
        exit 0
    fi
    work=$(mktemp -d "${TMPDIR:-/tmp}/slurm.XXXXXX") || exit 1
    dir=$work/cluster
    tag=$1$$
    n=0
    trap t_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

t_cleanup() {
    sh "$cluster" stop "$dir" >/dev/null 2>&1 || sh "$cluster" stop "$dir"
    rm -rf "$work"
}

t_point() { # STATUS DESCRIPTION: ok if STATUS is 0
    n=$((n + 1))
    if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi
    return "$1"
}

t_show() { # FILE: its lines as TAP comments
    [ -f "$1" ] && sed 's/^/#   /' "$1"
    return 0
}

t_logs() {
    for f in "$dir/ctld/slurmctld.log" "$dir"/node/*/slurmd.log; do
        [ -f "$f" ] && tail -n 8 "$f" | sed "s|^|#   ${f#"$dir"/}: |"
    done
    return 0
}

t_now() { date +%s.%N; }
t_since() { awk -v a="$1" -v b="$(t_now)" 'BEGIN { printf "%.1f", b - a }'; }

cl() { sh "$cluster" run "$dir" "$@"; }
cl_with() { # VAR=VALUE CMD...: cl with one more variable in CMD's environment
    v=$1
    shift
    env "$v" sh "$cluster" run "$dir" "$@"
}

job_state() { # JOBID -> PENDING, RUNNING, COMPLETED, CANCELLED, TIMEOUT...
    cl scontrol show job -o "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p'
}

job_wait_done() { # JOBID SECONDS: until the job has left PENDING/RUNNING
    i=0
    while [ $i -lt $(($2 * 5)) ]; do
        case $(job_state "$1") in PENDING | RUNNING | CONFIGURING | COMPLETING | "") ;; *) return 0 ;; esac
        sleep 0.2
        i=$((i + 1))
    done
    return 1
}

tag_pids() { # TAG -> pids of processes whose environment carries RAY_TEST_JOB=TAG
    grep -l "RAY_TEST_JOB=$1" /proc/[0-9]*/environ 2>/dev/null |
        sed 's|/proc/\([0-9]*\)/environ|\1|' | tr '\n' ' '
}

wait_for_file_line() { # FILE PATTERN SECONDS
    i=0
    while [ $i -lt $(($3 * 10)) ]; do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

check_start() { # [NODES [CPUS_PER_NODE]]
    t0=$(t_now)
    sh "$cluster" start "$dir" "$@" >"$work/start.out" 2>&1
    rc=$?
    t_point $rc "cluster.sh start: ${1:-3} nodes x ${2:-2} CPUs up ($(t_since "$t0") s)" || {
        t_show "$work/start.out"
        exit 1
    }
    # shellcheck source=/dev/null
    . "$dir/cluster.env"
}

shm_new() { # BEFORE-LIST -> /dev/shm entries not in it
    ls /dev/shm | sort | comm -13 "$1" -
}

# The node namespaces' processes other than slurmd.
ns_others() { # NODE...
    for node in "$@"; do
        sd=$(cat "$dir/node/$node/slurmd.pid" 2>/dev/null)
        ip netns pids "rmpi-$CL_ID-$node" | grep -vx "${sd:-x}"
    done
}

# What of the cluster exists: namespaces, processes, mounts, runtime files.
cluster_traces() {
    for f in "/run/netns/rmpi-$CL_ID-"*; do [ ! -e "$f" ] || echo "$f"; done
    grep -l "SLURM_CONF=$dir/slurm.conf" /proc/[0-9]*/environ 2>/dev/null
    grep -F " $dir/" /proc/self/mountinfo
    find "$dir" \( -type s -o -name '*.pid' -o -name '*.uts' \) -print
    if [ "${CL_MADE_RUN_NETNS:-0}" = 1 ] && [ -d /run/netns ] && [ -z "$(ls -A /run/netns)" ]; then
        echo "/run/netns (made by the cluster, empty)"
    fi
    find /etc/slurm /etc/munge /run/munge /var/log/munge /var/lib/munge /run/slurm* \
        /var/spool/slurm* /var/log/slurm* -newer "$dir/slurm.conf" -print 2>/dev/null
}

check_stop() {
    t0=$(t_now)
    sh "$cluster" stop "$dir" >"$work/stop.out" 2>&1
    rc=$? took=$(t_since "$t0")
    traces=$(cluster_traces)
    [ $rc -eq 0 ] && [ -z "$traces" ]
    t_point $? "cluster.sh stop ($took s): no namespace, process, mount, socket or pid file of the cluster left" ||
        { t_show "$work/stop.out"; echo "$traces" | sed 's/^/#   left: /'; }
}
