#!/usr/bin/env bash
# An emulated cluster benchmark: network-namespace "hosts", one rank each, joined by links capped
# with tc at the rates you name, running `dptrain bench` across them over TCP only, and one table.
#
#   scripts/cluster-bench.sh                                   2 hosts, rates "none 1gbit 300mbit",
#                                                              the issue's model (below)
#   scripts/cluster-bench.sh --rates "none 1gbit" --rounds 3 -- --bucket-mb 0 --layers 2 ...
#
# Options:
#   --rates "R1 R2 ..."   link rates: none (uncapped veth) or any tc rate (10gbit, 1gbit, 300mbit)
#   --hosts 2|4           2: one veth pair; 4: each host's veth to a bridge in a switch namespace
#   --rounds N            interleaved rounds (every rate, and one rank alone, once per round);
#                         the table shows medians over rounds (default 1)
#   --dptrain PATH        this binary instead of building .build/release/dptrain
#   --keep DIR            keep every run's JSON in DIR
#   --variant "LABEL OPTIONS..."   a row group of its own: these bench options added to the others
#                         (repeatable, interleaved within every round; e.g. --variant "before
#                         --bucket-mb 0" --variant "after"); without it, one group of no extras
#   -- OPTIONS...         `dptrain bench` options, replacing the default model options
#                         --layers 6 --heads 6 --dim 384 --context 256 --batch 4 --vocab-size 65
#                         --threads 1 --steps 10 --warm-up 2 (give --steps/--warm-up yourself when
#                         you pass options)
#
# Columns: rate; ms/step (median); the split into forward, backward, exposed communication (the
# time the step waited for the network after backward) and update; efficiency = ms/step of one
# rank alone (no network, same options, `--single-process`) ÷ ms/step over the link; MB that left
# host a over its link per step (its veth's tx_bytes over the whole run, less a one-step run's, ÷
# the extra steps), so the start-up broadcast is not counted.
#
# Every link: `tc qdisc replace dev VETH root tbf rate R burst 256kb latency 100ms` on both ends
# (both directions capped). Addresses 10.78.0.N/24 exist only inside the namespaces this script
# makes; nothing is sent anywhere else. Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) and tc
# (iproute2). Everything it makes (namespaces, links, processes in them, the work folder) is
# removed on success, on failure and on Ctrl-C. When namespaces cannot be made it exits with
# status 2 and one sentence.

set -euo pipefail

cb_usage() { sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
cb_fail() { echo "cluster-bench: $2" >&2; exit "$1"; }

rates="none 1gbit 300mbit"
hosts=2
rounds=1
dptrain_bin=""
keep_dir=""
variants=()
bench_options=(--layers 6 --heads 6 --dim 384 --context 256 --batch 4 --vocab-size 65 --threads 1 --steps 10 --warm-up 2)
while [ "$#" -gt 0 ]; do
    case "$1" in
        --rates) [ "$#" -ge 2 ] || cb_fail 64 "--rates needs a list such as \"none 1gbit 300mbit\"."; rates="$2"; shift 2 ;;
        --hosts) [ "$#" -ge 2 ] || cb_fail 64 "--hosts needs 2 or 4."; hosts="$2"; shift 2 ;;
        --rounds) [ "$#" -ge 2 ] || cb_fail 64 "--rounds needs a number."; rounds="$2"; shift 2 ;;
        --dptrain) [ "$#" -ge 2 ] || cb_fail 64 "--dptrain needs a path."; dptrain_bin="$2"; shift 2 ;;
        --keep) [ "$#" -ge 2 ] || cb_fail 64 "--keep needs a folder."; keep_dir="$2"; shift 2 ;;
        --variant) [ "$#" -ge 2 ] || cb_fail 64 "--variant needs a label and options."; variants+=("$2"); shift 2 ;;
        -h|--help) cb_usage; exit 0 ;;
        --) shift; bench_options=("$@"); break ;;
        *) cb_fail 64 "unknown option $1 (see --help)." ;;
    esac
done
[ "$hosts" = 2 ] || [ "$hosts" = 4 ] || cb_fail 64 "--hosts must be 2 or 4, not $hosts."
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || cb_fail 64 "--rounds must be a positive number, not $rounds."
[ -n "${rates// /}" ] || cb_fail 64 "--rates is empty."
for rate in $rates; do
    [ "$rate" = none ] || [[ "$rate" =~ ^[0-9]+(\.[0-9]+)?([kmg]?bit|[kmg]?bps)$ ]] \
        || cb_fail 64 "rate $rate is not none or a tc rate such as 1gbit or 300mbit."
done
[ "${#variants[@]}" -gt 0 ] || variants=("-")
for variant in "${variants[@]}"; do
    label="${variant%% *}"
    [[ "$label" =~ ^[A-Za-z0-9_.-]+$ ]] || cb_fail 64 "a variant's label must be one word of letters, digits, . _ or -, not \"$label\"."
done
for option in "${bench_options[@]}" ${variants[@]+"${variants[@]}"}; do
    case "$option" in --json|--single-process) cb_fail 64 "$option is the script's to give, not yours." ;; esac
done

if [ "$(id -u)" -ne 0 ]; then
    cb_fail 2 "cannot make network namespaces: this needs root (CAP_NET_ADMIN), so run it as root or with sudo."
fi
for tool in ip tc unshare hostname; do
    command -v "$tool" >/dev/null 2>&1 || cb_fail 2 "cannot make the emulated hosts: the $tool command is missing (iproute2, util-linux)."
done

source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$DPTRAIN_ROOT"

# ---- clean-up: always, whatever happens from here on ---------------------------------------------

suffix="$$"
subnet="10.78.0.0/24"
made_namespaces=()
made_links=()
child_pid=""
work_dir="$(mktemp -d "${TMPDIR:-/tmp}/dptrain-cluster-bench.XXXXXX")"

cb_cleanup() {
    local status=$?
    trap - EXIT INT TERM HUP
    set +e
    if [ -n "$child_pid" ] && kill -0 "$child_pid" 2>/dev/null; then
        kill -TERM "$child_pid" 2>/dev/null
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$child_pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$child_pid" 2>/dev/null
    fi
    local ns pids link
    for ns in "${made_namespaces[@]}"; do
        pids="$(ip netns pids "$ns" 2>/dev/null)"
        if [ -n "$pids" ]; then
            kill -TERM $pids 2>/dev/null
            sleep 0.5
            pids="$(ip netns pids "$ns" 2>/dev/null)"
            [ -z "$pids" ] || kill -KILL $pids 2>/dev/null
        fi
    done
    for ns in "${made_namespaces[@]}"; do ip netns delete "$ns" 2>/dev/null; done
    for link in "${made_links[@]}"; do ip link delete "$link" 2>/dev/null; done  # only if never moved
    if [ -n "$keep_dir" ]; then mkdir -p "$keep_dir" && cp "$work_dir"/*.json "$keep_dir"/ 2>/dev/null; fi
    rm -rf "$work_dir"
    exit "$status"
}
trap cb_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

cb_run() { # runs a command in the background and waits, so that a signal reaches the trap at once
    local status=0
    "$@" &
    child_pid=$!
    wait "$child_pid" || status=$?
    child_pid=""
    return "$status"
}

if [ -z "$dptrain_bin" ]; then
    swift build -c release "${DPTRAIN_SWIFT_FLAGS[@]}" --product dptrain >&2
    dptrain_bin="$DPTRAIN_ROOT/.build/release/dptrain"
fi
[ -x "$dptrain_bin" ] || cb_fail 1 "$dptrain_bin is not an executable dptrain."
dptrain_bin="$(cd "$(dirname "$dptrain_bin")" && pwd)/$(basename "$dptrain_bin")"

# ---- the hosts ---------------------------------------------------------------------------------------

names=(a b c d)
host_names=() host_ns=() host_dev=() peer_dev=()
cb_netns_add() {
    local error
    if ! error="$(ip netns add "$1" 2>&1)"; then
        cb_fail 2 "cannot make network namespaces here (ip netns add: ${error//$'\n'/ }); this needs CAP_NET_ADMIN and CAP_SYS_ADMIN."
    fi
    made_namespaces+=("$1")
}
switch_ns="cbs-$suffix"
if [ "$hosts" -eq 4 ]; then
    cb_netns_add "$switch_ns"
    ip -n "$switch_ns" link add br0 type bridge
    ip -n "$switch_ns" link set br0 up
fi
for i in $(seq 0 $((hosts - 1))); do
    n="${names[$i]}"
    host_names+=("cb-$n") host_ns+=("cb-$n-$suffix") host_dev+=("cb$n-$suffix")
    cb_netns_add "cb-$n-$suffix"
    ip -n "cb-$n-$suffix" link set lo up
done
if [ "$hosts" -eq 2 ]; then
    ip link add "${host_dev[0]}" type veth peer name "${host_dev[1]}" || cb_fail 2 "cannot make a veth pair."
    made_links+=("${host_dev[0]}")
    for i in 0 1; do ip link set "${host_dev[$i]}" netns "${host_ns[$i]}"; done
    peer_dev=("" "")
else
    for i in 0 1 2 3; do
        peer="cbp${names[$i]}-$suffix"
        ip link add "${host_dev[$i]}" type veth peer name "$peer" || cb_fail 2 "cannot make a veth pair."
        made_links+=("${host_dev[$i]}")
        ip link set "${host_dev[$i]}" netns "${host_ns[$i]}"
        ip link set "$peer" netns "$switch_ns"
        ip -n "$switch_ns" link set "$peer" master br0
        ip -n "$switch_ns" link set "$peer" up
        peer_dev+=("$peer")
    done
fi
for i in $(seq 0 $((hosts - 1))); do
    ip -n "${host_ns[$i]}" address add "10.78.0.$((i + 1))/24" dev "${host_dev[$i]}"
    ip -n "${host_ns[$i]}" link set "${host_dev[$i]}" up
done
ip netns exec "${host_ns[0]}" unshare --uts true 2>/dev/null || cb_fail 2 "cannot give the hosts their own names (unshare --uts failed)."

# set_rate RATE: caps every link in both directions (none removes the caps).
set_rate() {
    local i
    for i in $(seq 0 $((hosts - 1))); do
        ip netns exec "${host_ns[$i]}" tc qdisc del dev "${host_dev[$i]}" root 2>/dev/null || true
        [ -z "${peer_dev[$i]}" ] || ip netns exec "$switch_ns" tc qdisc del dev "${peer_dev[$i]}" root 2>/dev/null || true
        [ "$1" = none ] && continue
        ip netns exec "${host_ns[$i]}" tc qdisc replace dev "${host_dev[$i]}" root tbf rate "$1" burst 256kb latency 100ms
        [ -z "${peer_dev[$i]}" ] || ip netns exec "$switch_ns" tc qdisc replace dev "${peer_dev[$i]}" root tbf rate "$1" burst 256kb latency 100ms
    done
}

agent="$work_dir/rsh-agent"
{
    echo '#!/bin/sh'
    echo 'case "$1" in'
    for i in $(seq 0 $((hosts - 1))); do echo "    ${host_names[$i]}) ns=${host_ns[$i]} ;;"; done
    echo '    *) echo "cluster-bench agent: no namespace for host $1" >&2; exit 255 ;;'
    echo 'esac'
    echo 'host="$1"; shift'
    echo "exec ip netns exec \"\$ns\" unshare --uts sh -c 'hostname \"\$1\" && shift && exec sh -c \"\$*\"' agent \"\$host\" \"\$@\""
} >"$agent"
chmod +x "$agent"
hostfile="$work_dir/hostfile"
for i in $(seq 0 $((hosts - 1))); do echo "${host_names[$i]} slots=1"; done >"$hostfile"

on_host_a() { ip netns exec "${host_ns[0]}" unshare --uts sh -c 'hostname "$0" && exec "$@"' "${host_names[0]}" "$@"; }
mpirun_hosts=(mpirun -n "$hosts" --hostfile "$hostfile" --bind-to none
    --mca plm_rsh_agent "$agent" --mca plm_rsh_no_tree_spawn 1
    --mca btl tcp,self --mca btl_tcp_if_include "$subnet" --mca oob_tcp_if_include "$subnet")
tx_bytes() { ip netns exec "${host_ns[0]}" cat "/sys/class/net/${host_dev[0]}/statistics/tx_bytes"; }

echo "cluster-bench: $hosts hosts (${host_ns[*]}), one rank each, TCP only; rates: $rates; $rounds round(s)" >&2
echo "cluster-bench: dptrain bench ${bench_options[*]}" >&2

# ---- runs ------------------------------------------------------------------------------------------------

json_field() { # json_field FILE KEY: a number from dptrain bench --json
    grep -o "\"$2\":[-+0-9.eE]*" "$1" | head -1 | cut -d: -f2
}

# The bytes of start-up (the weights' broadcast, the hashes): a run of one step, once per rate.
declare -A calibration
steps_of_run() { # timed + warm-up steps of the options given
    local steps=20 warm=3 i
    for ((i = 0; i < ${#bench_options[@]}; i++)); do
        case "${bench_options[$i]}" in
            --steps) steps="${bench_options[$((i + 1))]}" ;;
            --warm-up) warm="${bench_options[$((i + 1))]}" ;;
        esac
    done
    echo $((steps + warm))
}
total_steps="$(steps_of_run)"

for round in $(seq 1 "$rounds"); do
    echo "cluster-bench: round $round: one rank alone" >&2
    cb_run on_host_a "$dptrain_bin" bench "${bench_options[@]}" --single-process --json >"$work_dir/solo-$round.json"
    for rate in $rates; do
        set_rate "$rate"
        for variant in "${variants[@]}"; do
            label="${variant%% *}" extra=()
            [ "$label" = "$variant" ] || read -r -a extra <<<"${variant#* }"
            run="$label-$rate"
            if [ -z "${calibration[$run]:-}" ]; then
                before="$(tx_bytes)"
                cb_run on_host_a "${mpirun_hosts[@]}" "$dptrain_bin" bench "${bench_options[@]}" ${extra[@]+"${extra[@]}"} --steps 1 --warm-up 0 --json >/dev/null
                calibration[$run]=$(($(tx_bytes) - before))
            fi
            echo "cluster-bench: round $round: $hosts hosts at $rate${extra[*]+, ${extra[*]}}" >&2
            before="$(tx_bytes)"
            cb_run on_host_a "${mpirun_hosts[@]}" "$dptrain_bin" bench "${bench_options[@]}" ${extra[@]+"${extra[@]}"} --json >"$work_dir/$run-$round.json"
            echo $(($(tx_bytes) - before)) >"$work_dir/$run-$round.bytes"
        done
    done
done
set_rate none

# ---- the table ---------------------------------------------------------------------------------------

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
field_median() { # field_median PREFIX KEY
    local round
    for round in $(seq 1 "$rounds"); do json_field "$work_dir/$1-$round.json" "$2"; done | median
}
solo="$(field_median solo ms_per_step)"
echo
echo "dptrain bench ${bench_options[*]}; $hosts hosts × 1 rank; medians of $rounds interleaved round(s)"
echo "one rank alone: $(printf '%.0f' "$solo") ms/step"
echo
echo "| variant | link | ms/step | forward | backward | exposed comm | update | comm busy | efficiency | MB/step over the link |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for variant in "${variants[@]}"; do
    label="${variant%% *}"
    for rate in $rates; do
        run="$label-$rate"
        ms="$(field_median "$run" ms_per_step)"
        bytes="$(for round in $(seq 1 "$rounds"); do cat "$work_dir/$run-$round.bytes"; done | median)"
        per_step="$(awk -v b="$bytes" -v c="${calibration[$run]}" -v n="$total_steps" 'BEGIN { printf "%.1f", (b - c) / (n - 1) / 1e6 }')"
        printf '| %s | %s | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.2f | %s |\n' \
            "$([ "$variant" = - ] && echo "as given" || echo "$variant")" \
            "$([ "$rate" = none ] && echo "uncapped veth" || echo "$rate")" "$ms" \
            "$(field_median "$run" forward_ms)" "$(field_median "$run" backward_ms)" \
            "$(field_median "$run" exposed_comm_ms)" "$(field_median "$run" update_ms)" \
            "$(field_median "$run" comm_busy_ms)" "$(awk -v a="$solo" -v b="$ms" 'BEGIN { print a / b }')" "$per_step"
    done
done
