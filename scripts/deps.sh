# deps.sh - sourced by the other scripts: installs the Debian 12 packages
# ray-mpi needs to build and test, only those missing.
# jq reads ray-mpi-dagbench's JSON in tests/dagbench.  The second line is
# the multi-node runtime (Open MPI for the bootstrap and the mpi backend,
# UCX for transfers between nodes; ucx_info from ucx-utils to see its
# transports) and the Slurm cluster tests (tests/slurm): real Slurm
# daemons, munge, PMIx, and ip/nsenter/unshare for network namespaces.
# librsvg2-bin's rsvg-convert renders ray-mpi-timeline's SVG (tests/timeline).
RAY_DEB_PACKAGES="build-essential autoconf automake libtool pkg-config libhwloc-dev hwloc jq librsvg2-bin
 openmpi-bin libopenmpi-dev libucx-dev ucx-utils libpmix-dev slurm-wlm slurm-client munge
 iproute2 util-linux"

ray_install_deps() {
    missing=""
    for p in $RAY_DEB_PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    echo "installing:$missing"
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
}
