#!/usr/bin/env bash
# An emulated cluster benchmark: network-namespace "hosts" (one rank each, or --ranks-per-host),
# joined by links capped with tc at the rates you name, running `dptrain bench` across them over
# TCP only, and one table.
#
#   scripts/cluster-bench.sh                                   2 hosts, rates "none 1gbit 300mbit",
#                                                              the issue's model (below)
#   scripts/cluster-bench.sh --rates "none 1gbit" --rounds 3 -- --bucket-mb 0 --layers 2 ...
#
# Options:
#   --rates "R1 R2 ..."   link rates: none (uncapped veth) or any tc rate (10gbit, 1gbit, 300mbit)
#   --hosts 2|4           2: one veth pair; 4: each host's veth to a bridge in a switch namespace
#   --ranks-per-host N    ranks on each host (default 1); ranks of one host talk over shared
#                         memory (btl vader), hosts over TCP. More ranks than the machine's cores
#                         oversubscribe it: the solo baseline stays one rank alone
#   --cores-per-host N    host i runs on cores i·N … i·N+N−1 only (taskset), as separate machines
#                         would, and one rank alone on host a's; default 0: the hosts share every
#                         core (the scheduler places their threads and the kernel's network work)
#   --mpirun "ARGS"       extra mpirun arguments for the runs across hosts (e.g. "--mca
#                         mpi_yield_when_idle 1", "--mca btl_tcp_sndbuf 4194304")
#   --rounds N            interleaved rounds (every rate, and one rank alone, once per round);
#                         the table shows medians over rounds (default 1)
#   --dptrain PATH        this binary instead of building .build/release/dptrain
#   --keep DIR            keep every run's JSON in DIR
#   --variant "LABEL OPTIONS..."   a row group of its own: these bench options added to the others
#                         (repeatable, interleaved within every round; e.g. --variant "before
#                         --bucket-mb 0" --variant "after"); without it, one group of no extras.
#                         LABEL@RATE runs the variant at that rate only. Leading VAR=VALUE words
#                         set the ranks' environment; then @PATH runs the binary at PATH instead
#                         (e.g. --variant "main @../main/.build/release/dptrain"), for before/after
#   -- OPTIONS...         `dptrain bench` options, replacing the default model options
#                         --layers 6 --heads 6 --dim 384 --context 256 --batch 4 --vocab-size 65
#                         --threads 1 --steps 10 --warm-up 2 (give --steps/--warm-up yourself when
#                         you pass options)
#
# Columns: rate; ms/step (median); the split into forward, backward, exposed communication (the
# time the step waited for the network after backward) and update; comm busy and comm CPU (the
# exchange thread's wall and CPU time per step, hidden or not); efficiency = ms/step of one
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

NETNS_PROG=cluster-bench
source "$(dirname "${BASH_SOURCE[0]}")/lib/netns.sh"
cb_usage() { sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
cb_fail() { netns_fail "$@"; }

rates="none 1gbit 300mbit"
hosts=2
ranks_per_host=1
cores_per_host=0
mpirun_extra=()
rounds=1
dptrain_bin=""
keep_dir=""
variants=()
bench_options=(--layers 6 --heads 6 --dim 384 --context 256 --batch 4 --vocab-size 65 --threads 1 --steps 10 --warm-up 2)
while [ "$#" -gt 0 ]; do
    case "$1" in
        --rates) [ "$#" -ge 2 ] || cb_fail 64 "--rates needs a list such as \"none 1gbit 300mbit\"."; rates="$2"; shift 2 ;;
        --hosts) [ "$#" -ge 2 ] || cb_fail 64 "--hosts needs 2 or 4."; hosts="$2"; shift 2 ;;
        --ranks-per-host) [ "$#" -ge 2 ] || cb_fail 64 "--ranks-per-host needs a number."; ranks_per_host="$2"; shift 2 ;;
        --cores-per-host) [ "$#" -ge 2 ] || cb_fail 64 "--cores-per-host needs a number."; cores_per_host="$2"; shift 2 ;;
        --mpirun) [ "$#" -ge 2 ] || cb_fail 64 "--mpirun needs arguments."; read -r -a mpirun_extra <<<"$2"; shift 2 ;;
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
[[ "$ranks_per_host" =~ ^[1-9][0-9]*$ ]] || cb_fail 64 "--ranks-per-host must be a positive number, not $ranks_per_host."
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || cb_fail 64 "--rounds must be a positive number, not $rounds."
[[ "$cores_per_host" =~ ^[0-9]+$ ]] || cb_fail 64 "--cores-per-host must be a number, not $cores_per_host."
[ $((hosts * cores_per_host)) -le "$(nproc)" ] \
    || cb_fail 64 "--cores-per-host $cores_per_host needs $((hosts * cores_per_host)) cores for $hosts hosts; this machine has $(nproc)."
[ -n "${rates// /}" ] || cb_fail 64 "--rates is empty."
for rate in $rates; do
    [ "$rate" = none ] || [[ "$rate" =~ ^[0-9]+(\.[0-9]+)?([kmg]?bit|[kmg]?bps)$ ]] \
        || cb_fail 64 "rate $rate is not none or a tc rate such as 1gbit or 300mbit."
done
[ "${#variants[@]}" -gt 0 ] || variants=("-")
for variant in "${variants[@]}"; do
    label="${variant%% *}"
    [[ "$label" =~ ^[A-Za-z0-9_.-]+(@[A-Za-z0-9.]+)?$ ]] || cb_fail 64 "a variant's label must be one word of letters, digits, . _ or - (and @RATE), not \"$label\"."
done
for option in "${bench_options[@]}" ${variants[@]+"${variants[@]}"}; do
    case "$option" in --json|--single-process) cb_fail 64 "$option is the script's to give, not yours." ;; esac
done

netns_require_tools tc unshare hostname

source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$DPTRAIN_ROOT"

# ---- clean-up: always, whatever happens from here on ---------------------------------------------

suffix="$$"
subnet="10.78.0.0/24"
netns_begin_cleanup
work_dir="$netns_work"
netns_before_cleanup() { # --keep: the runs' JSON outlives the work folder
    if [ -n "$keep_dir" ]; then mkdir -p "$keep_dir" && cp "$work_dir"/*.json "$keep_dir"/ 2>/dev/null; fi
}
cb_run() { netns_run "$@"; }

netns_dptrain "$dptrain_bin"

# ---- the hosts ---------------------------------------------------------------------------------------

names=(a b c d)
host_names=() host_ns=() host_dev=() peer_dev=()
switch_ns="cbs-$suffix"
if [ "$hosts" -eq 4 ]; then
    netns_add "$switch_ns"
    ip -n "$switch_ns" link add br0 type bridge
    ip -n "$switch_ns" link set br0 up
fi
for i in $(seq 0 $((hosts - 1))); do
    n="${names[$i]}"
    host_names+=("cb-$n") host_ns+=("cb-$n-$suffix") host_dev+=("cb$n-$suffix")
    netns_add "cb-$n-$suffix"
    [ "$cores_per_host" -eq 0 ] || netns_cpus["cb-$n"]="$((i * cores_per_host))-$(((i + 1) * cores_per_host - 1))"
done
if [ "$hosts" -eq 2 ]; then
    netns_veth "${host_dev[0]}" "${host_dev[1]}"
    for i in 0 1; do ip link set "${host_dev[$i]}" netns "${host_ns[$i]}"; done
    peer_dev=("" "")
else
    for i in 0 1 2 3; do
        peer="cbp${names[$i]}-$suffix"
        netns_veth "${host_dev[$i]}" "$peer"
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
agent_hosts=()
for i in $(seq 0 $((hosts - 1))); do agent_hosts+=("${host_names[$i]}" "${host_ns[$i]}"); done
netns_write_agent "$agent" "${agent_hosts[@]}"
hostfile="$work_dir/hostfile"
for i in $(seq 0 $((hosts - 1))); do echo "${host_names[$i]} slots=$ranks_per_host"; done >"$hostfile"

on_host_a() { netns_on_host "${host_ns[0]}" "${host_names[0]}" "$@"; }
# Ranks of one host share memory (vader); hosts talk TCP over their links only.
mpirun_hosts=(mpirun -n "$((hosts * ranks_per_host))" --hostfile "$hostfile" --bind-to none
    --mca plm_rsh_agent "$agent" --mca plm_rsh_no_tree_spawn 1
    --mca btl "$([ "$ranks_per_host" -gt 1 ] && echo tcp,vader,self || echo tcp,self)"
    --mca btl_tcp_if_include "$subnet" --mca oob_tcp_if_include "$subnet"
    ${mpirun_extra[@]+"${mpirun_extra[@]}"})
tx_bytes() { ip netns exec "${host_ns[0]}" cat "/sys/class/net/${host_dev[0]}/statistics/tx_bytes"; }

echo "cluster-bench: $hosts hosts (${host_ns[*]}), $ranks_per_host rank(s) each, TCP between hosts; rates: $rates; $rounds round(s)" >&2
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

only_rate() { # only_rate LABEL RATE: whether a variant LABEL (LABEL@RATE: that rate only) runs at RATE
    [[ "$1" != *@* ]] || [ "${1#*@}" = "$2" ]
}

for round in $(seq 1 "$rounds"); do
    echo "cluster-bench: round $round: one rank alone (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    cb_run on_host_a "$dptrain_bin" bench "${bench_options[@]}" --single-process --json >"$work_dir/solo-$round.json"
    for rate in $rates; do
        set_rate "$rate"
        for variant in "${variants[@]}"; do
            label="${variant%% *}" extra=()
            only_rate "$label" "$rate" || continue
            [ "$label" = "$variant" ] || read -r -a extra <<<"${variant#* }"
            bin="$dptrain_bin"
            # Leading VAR=VALUE words: environment of every rank (through env(1), so remote ones too).
            launch=()
            while [ "${#extra[@]}" -gt 0 ] && [[ "${extra[0]}" =~ ^[A-Za-z_][A-Za-z0-9_]*= ]]; do launch+=("${extra[0]}"); extra=("${extra[@]:1}"); done
            if [ "${#extra[@]}" -gt 0 ] && [ "${extra[0]#@}" != "${extra[0]}" ]; then bin="${extra[0]#@}"; extra=("${extra[@]:1}"); fi
            run="$label-$rate"
            if [ -z "${calibration[$run]:-}" ]; then
                before="$(tx_bytes)"
                cb_run on_host_a "${mpirun_hosts[@]}" env ${launch[@]+"${launch[@]}"} "$bin" bench "${bench_options[@]}" ${extra[@]+"${extra[@]}"} --steps 1 --warm-up 0 --json >/dev/null
                calibration[$run]=$(($(tx_bytes) - before))
            fi
            echo "cluster-bench: round $round: $hosts hosts at $rate, $label${launch[*]+ ${launch[*]}}${extra[*]+ ${extra[*]}} (load $(cut -d' ' -f1 /proc/loadavg))" >&2
            before="$(tx_bytes)"
            cb_run on_host_a "${mpirun_hosts[@]}" env ${launch[@]+"${launch[@]}"} "$bin" bench "${bench_options[@]}" ${extra[@]+"${extra[@]}"} --json >"$work_dir/$run-$round.json"
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
echo "dptrain bench ${bench_options[*]}; $hosts hosts × $ranks_per_host rank(s)${mpirun_extra[*]+; mpirun ${mpirun_extra[*]}}; load $(cut -d' ' -f1-3 /proc/loadavg); medians of $rounds interleaved round(s)"
echo "one rank alone: $(printf '%.0f' "$solo") ms/step"
echo
echo "| variant | link | ms/step | forward | backward | exposed comm | update | comm busy | comm CPU | efficiency | MB/step over the link |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for variant in "${variants[@]}"; do
    label="${variant%% *}"
    for rate in $rates; do
        only_rate "$label" "$rate" || continue
        run="$label-$rate"
        ms="$(field_median "$run" ms_per_step)"
        bytes="$(for round in $(seq 1 "$rounds"); do cat "$work_dir/$run-$round.bytes"; done | median)"
        per_step="$(awk -v b="$bytes" -v c="${calibration[$run]}" -v n="$total_steps" 'BEGIN { printf "%.1f", (b - c) / (n - 1) / 1e6 }')"
        printf '| %s | %s | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.2f | %s |\n' \
            "$([ "$variant" = - ] && echo "as given" || echo "$variant")" \
            "$([ "$rate" = none ] && echo "uncapped veth" || echo "$rate")" "$ms" \
            "$(field_median "$run" forward_ms)" "$(field_median "$run" backward_ms)" \
            "$(field_median "$run" exposed_comm_ms)" "$(field_median "$run" update_ms)" \
            "$(field_median "$run" comm_busy_ms)" "$(field_median "$run" comm_cpu_ms)" "$(awk -v a="$solo" -v b="$ms" 'BEGIN { print a / b }')" "$per_step"
    done
done
