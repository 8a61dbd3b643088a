# Sourced by scripts/netns-cluster.sh and scripts/cluster-bench.sh: network namespaces standing in
# for hosts, made and always removed again.
#
# The caller sets NETNS_PROG (its name, the prefix of every message) before sourcing, then:
#   netns_require_tools TOOL...     root, ip (iproute2 installed with apt-get when missing), the tools
#                                   named (e.g. tc unshare hostname); else exit 2 with one sentence
#   netns_begin_cleanup [WORK]      from here on everything made is removed on exit, failure and
#                                   Ctrl-C (INT → 130, TERM → 143, HUP → 129); WORK: the work folder
#                                   to keep (made if missing), else a temporary one, removed
#   netns_add NS                    makes a namespace (exit 2 with one sentence when it cannot)
#   netns_veth A B                  a veth pair A–B (removed if it never reaches a namespace)
#   netns_write_agent FILE HOST NS ...   OpenMPI's rsh agent (plm_rsh_agent): `FILE HOST COMMAND`
#                                   runs COMMAND in NS's namespaces with hostname HOST, as sshd would
#                                   (on the cores netns_cpus[HOST] names, when it is set)
#   netns_on_host NS HOST COMMAND...     runs COMMAND in NS with its own UTS namespace named HOST
#   netns_run COMMAND...            runs COMMAND in the background and waits for it, so that a
#                                   signal reaches the trap at once (the trap ends it)
#   netns_dptrain [PATH]            sets dptrain_bin: PATH, or builds .build/release/dptrain
# It defines netns_before_cleanup, a no-op the caller may redefine (runs first in the trap), and
# sets netns_work (the work folder) and netns_made (the namespaces made).

netns_fail() { # STATUS SENTENCE: one sentence on stderr, then exit
    echo "$NETNS_PROG: $2" >&2
    exit "$1"
}

netns_require_tools() {
    if [ "$(id -u)" -ne 0 ]; then
        netns_fail 2 "cannot make network namespaces: this needs root (CAP_NET_ADMIN), so run it as root or with sudo."
    fi
    if ! command -v ip >/dev/null 2>&1; then
        echo "$NETNS_PROG: installing iproute2 (for ip and tc)" >&2
        apt-get update -qq >/dev/null 2>&1 || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends iproute2 >/dev/null 2>&1 || true
        command -v ip >/dev/null 2>&1 \
            || netns_fail 2 "cannot make network namespaces: the ip command is missing and apt-get could not install iproute2."
    fi
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 \
            || netns_fail 2 "cannot make the emulated hosts: the $tool command is missing (iproute2, util-linux)."
    done
}

netns_made=()
netns_links=()
netns_child=""
netns_work=""
netns_keep_work=0

netns_before_cleanup() { :; }
# netns_cpus[HOST]=LIST (taskset's list, e.g. 0 or 2-3): the agent and netns_on_host run HOST's
# processes on those cores only.
declare -A netns_cpus=()

netns_cleanup() {
    local status=$?
    trap - EXIT INT TERM HUP
    set +e
    netns_before_cleanup
    if [ -n "$netns_child" ] && kill -0 "$netns_child" 2>/dev/null; then
        kill -TERM "$netns_child" 2>/dev/null
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$netns_child" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$netns_child" 2>/dev/null
    fi
    local ns pids link
    for ns in ${netns_made[@]+"${netns_made[@]}"}; do # the orted daemons and ranks of an aborted job
        pids="$(ip netns pids "$ns" 2>/dev/null)"
        if [ -n "$pids" ]; then
            kill -TERM $pids 2>/dev/null
            sleep 0.5
            pids="$(ip netns pids "$ns" 2>/dev/null)"
            [ -z "$pids" ] || kill -KILL $pids 2>/dev/null
        fi
    done
    # Deleting a namespace takes its end of a veth pair, and so the pair, along.
    for ns in ${netns_made[@]+"${netns_made[@]}"}; do ip netns delete "$ns" 2>/dev/null; done
    for link in ${netns_links[@]+"${netns_links[@]}"}; do ip link delete "$link" 2>/dev/null; done
    [ -z "$netns_work" ] || [ "$netns_keep_work" -eq 1 ] || rm -rf "$netns_work"
    exit "$status"
}

netns_begin_cleanup() {
    if [ -z "${1:-}" ]; then
        netns_work="$(mktemp -d "${TMPDIR:-/tmp}/dptrain-$NETNS_PROG.XXXXXX")"
        netns_keep_work=0
    else
        mkdir -p "$1"
        netns_work="$(cd "$1" && pwd)"
        netns_keep_work=1
    fi
    trap netns_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
}

netns_add() {
    local error
    if ! error="$(ip netns add "$1" 2>&1)"; then
        netns_fail 2 "cannot make network namespaces here (ip netns add: ${error//$'\n'/ }); this needs CAP_NET_ADMIN and CAP_SYS_ADMIN, which unprivileged containers lack."
    fi
    netns_made+=("$1")
    ip -n "$1" link set lo up
}

netns_veth() {
    ip link add "$1" type veth peer name "$2" || netns_fail 2 "cannot make the veth pair $1–$2."
    netns_links+=("$1")
}

netns_write_agent() {
    local file="$1" i
    shift
    {
        echo '#!/bin/sh'
        echo "# plm_rsh_agent for $NETNS_PROG: AGENT HOST COMMAND... runs COMMAND in HOST's namespaces."
        echo 'cpus=""'
        echo 'case "$1" in'
        while [ "$#" -ge 2 ]; do echo "    $1) ns=$2${netns_cpus[$1]+ cpus=${netns_cpus[$1]}} ;;"; shift 2; done
        echo "    *) echo \"$NETNS_PROG agent: no namespace for host \$1\" >&2; exit 255 ;;"
        echo 'esac'
        echo 'host="$1"; shift'
        echo 'pin=""; [ -z "$cpus" ] || pin="taskset -c $cpus"'
        echo "exec ip netns exec \"\$ns\" \$pin unshare --uts sh -c 'hostname \"\$1\" && shift && exec sh -c \"\$*\"' agent \"\$host\" \"\$@\""
    } >"$file"
    chmod +x "$file"
}

netns_on_host() {
    local ns="$1" host="$2" pin=()
    shift 2
    [ -z "${netns_cpus[$host]:-}" ] || pin=(taskset -c "${netns_cpus[$host]}")
    ip netns exec "$ns" ${pin[@]+"${pin[@]}"} unshare --uts sh -c 'hostname "$0" && exec "$@"' "$host" "$@"
}

netns_run() {
    local status=0
    "$@" &
    netns_child=$!
    wait "$netns_child" || status=$?
    netns_child=""
    return "$status"
}

netns_dptrain() {
    dptrain_bin="${1:-}"
    if [ -z "$dptrain_bin" ]; then
        swift build -c release "${DPTRAIN_SWIFT_FLAGS[@]}" --product dptrain >&2
        dptrain_bin="$DPTRAIN_ROOT/.build/release/dptrain"
    fi
    [ -x "$dptrain_bin" ] || netns_fail 1 "$dptrain_bin is not an executable dptrain."
    dptrain_bin="$(cd "$(dirname "$dptrain_bin")" && pwd)/$(basename "$dptrain_bin")"
}
