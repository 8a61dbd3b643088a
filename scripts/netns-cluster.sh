#!/usr/bin/env bash
# Several hosts for real, on one machine: two network namespaces joined by a veth pair stand in for
# two hosts, and OpenMPI's own rsh/ssh launcher starts the ranks on them, over TCP only.
#
#   scripts/netns-cluster.sh                         dptrain info, then dptrain comm-bench, on 2 × 2 ranks
#   scripts/netns-cluster.sh -- dptrain comm-bench   any command (the word dptrain means the built binary)
#   scripts/netns-cluster.sh --compare               trains a small model on one host (4 ranks, plain
#                                                    mpirun) and on the 2 "hosts", compares the results
#   scripts/netns-cluster.sh --compare -- --steps 10 --dim 64 ...   `dptrain train` options instead of
#                                                    the default --steps 6 --layers 1 --dim 32 --heads 2
#                                                    --context 16 --batch 2 --sampler sequential
#                                                    --log-every 1 --eval-every 0 (--out is the script's)
#
# Options: --dptrain PATH (use this binary instead of building .build/release/dptrain),
#          --work DIR (keep the runs' files in DIR instead of a temporary folder removed on exit).
#
# The hosts: namespace dpt-a-PID holds 10.77.0.1/24 on one end of the veth pair, dpt-b-PID holds
# 10.77.0.2/24 on the other; the addresses exist only inside the two namespaces, so nothing is sent
# anywhere else and several runs can coexist. Each "host" also gets its own UTS namespace with the
# hostname dpt-a or dpt-b, the names in hostfiles/netns (slots=2 each), so that MPI and `dptrain
# info` see two hosts. mpirun runs inside dpt-a; for dpt-b it calls its rsh agent (plm_rsh_agent,
# normally ssh) as `AGENT dpt-b orted ...`: the agent, written into the work folder, runs that
# command line in dpt-b with `ip netns exec` + `unshare --uts` + `hostname`, as sshd would run it.
# Transport: `--mca btl tcp,self` (no shared memory, so even ranks on the same "host" talk TCP), and
# btl_tcp_if_include / oob_tcp_if_include 10.77.0.0/24, so MPI messages and the runtime's own
# traffic both cross the veth pair.
#
# Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN: `ip netns add` mounts); installs iproute2 with
# apt-get when `ip` is missing. Everything it makes (namespaces, veth pair, processes left in the
# namespaces, the work folder unless --work) is removed on exit, on failure and on Ctrl-C.
# When namespaces cannot be made it exits with status 2 and one sentence saying why.

set -euo pipefail

NETNS_PROG=netns-cluster
source "$(dirname "${BASH_SOURCE[0]}")/lib/netns.sh"

netns_usage() {
    sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

# ---- options ---------------------------------------------------------------------------------

compare=0
dptrain_bin=""
work_dir=""
user_command=()
while [ "$#" -gt 0 ]; do
    case "$1" in
        --compare) compare=1; shift ;;
        --dptrain) [ "$#" -ge 2 ] || netns_fail 64 "--dptrain needs a path."; dptrain_bin="$2"; shift 2 ;;
        --work) [ "$#" -ge 2 ] || netns_fail 64 "--work needs a folder."; work_dir="$2"; shift 2 ;;
        -h|--help) netns_usage; exit 0 ;;
        --) shift; user_command=("$@"); break ;;
        *) netns_fail 64 "unknown option $1 (see --help)." ;;
    esac
done

# ---- what namespaces need, checked before anything is made --------------------------------------

netns_require_tools unshare hostname

# The rest of the set-up (packages, mpirun's root variables, the OpenBLAS kernel) is shared.
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$DPTRAIN_ROOT"
hostfile="$DPTRAIN_ROOT/hostfiles/netns"

# ---- clean-up: always, whatever happens from here on -----------------------------------------------

suffix="$$"
ns_a="dpt-a-$suffix" ns_b="dpt-b-$suffix"
veth_a="dpta-$suffix" veth_b="dptb-$suffix"
host_a="dpt-a" host_b="dpt-b"
addr_a="10.77.0.1" addr_b="10.77.0.2" subnet="10.77.0.0/24"
netns_begin_cleanup "$work_dir"
work_dir="$netns_work"

# ---- the binary ------------------------------------------------------------------------------------

netns_dptrain "$dptrain_bin"

train_options=(--steps 6 --layers 1 --dim 32 --heads 2 --context 16 --batch 2 --sampler sequential
               --log-every 1 --eval-every 0)
if [ "$compare" -eq 1 ]; then
    [ "${#user_command[@]}" -eq 0 ] || train_options=("${user_command[@]}")
    train_help="$("$dptrain_bin" train --help 2>/dev/null || true)"
    [[ "$train_help" == *--sampler* ]] \
        || netns_fail 1 "$dptrain_bin has no trainer yet (dptrain train --help lists no --sampler), so there is nothing to compare."
fi

# ---- two "hosts" -------------------------------------------------------------------------------------

netns_add "$ns_a"
netns_add "$ns_b"
netns_veth "$veth_a" "$veth_b"
ip link set "$veth_a" netns "$ns_a"
ip link set "$veth_b" netns "$ns_b"
ip -n "$ns_a" address add "$addr_a/24" dev "$veth_a"
ip -n "$ns_b" address add "$addr_b/24" dev "$veth_b"
ip -n "$ns_a" link set "$veth_a" up
ip -n "$ns_b" link set "$veth_b" up
ip netns exec "$ns_a" unshare --uts true 2>/dev/null \
    || netns_fail 2 "cannot give the namespaces their own host names (unshare --uts failed)."

# The rsh agent: `AGENT HOST COMMAND...` runs COMMAND, a shell command line as ssh would pass it,
# in HOST's namespaces.
agent="$work_dir/rsh-agent"
netns_write_agent "$agent" "$host_a" "$ns_a" "$host_b" "$ns_b"

# on_host_a COMMAND...: runs COMMAND in dpt-a's namespaces, with hostname dpt-a.
on_host_a() { netns_on_host "$ns_a" "$host_a" "$@"; }

mpirun_two_hosts=(mpirun -n 4 --hostfile "$hostfile" --bind-to none
    --mca plm_rsh_agent "$agent" --mca plm_rsh_no_tree_spawn 1 --mca mpi_yield_when_idle 1
    --mca btl tcp,self --mca btl_tcp_if_include "$subnet" --mca oob_tcp_if_include "$subnet")

# rx_bytes NS DEVICE: bytes received so far on DEVICE in NS.
rx_bytes() {
    ip netns exec "$1" cat "/sys/class/net/$2/statistics/rx_bytes"
}

echo "netns-cluster: hosts $host_a ($ns_a, $addr_a on $veth_a) and $host_b ($ns_b, $addr_b on $veth_b), 2 ranks each, TCP only" >&2

# ---- run -----------------------------------------------------------------------------------------

if [ "$compare" -eq 0 ]; then
    commands=()
    if [ "${#user_command[@]}" -eq 0 ]; then
        commands=("$dptrain_bin info" "$dptrain_bin comm-bench --max-bytes 1048576")
        for command in "${commands[@]}"; do
            echo "netns-cluster: ${command#"$DPTRAIN_ROOT/"}" >&2
            read -r -a words <<<"$command"
            netns_run on_host_a "${mpirun_two_hosts[@]}" "${words[@]}"
        done
    else
        [ "${user_command[0]}" != dptrain ] || user_command[0]="$dptrain_bin"
        netns_run on_host_a "${mpirun_two_hosts[@]}" "${user_command[@]}"
    fi
    echo "netns-cluster: $(rx_bytes "$ns_b" "$veth_b") bytes crossed the veth pair into $host_b" >&2
    exit 0
fi

# --compare: the same training on one host and on the two namespaces.
rm -rf "$work_dir/one-host" "$work_dir/two-hosts"
echo "netns-cluster: one host, 4 ranks: dptrain train ${train_options[*]}" >&2
netns_run mpirun -n 4 --oversubscribe --bind-to none \
    "$dptrain_bin" train "${train_options[@]}" --out "$work_dir/one-host"
echo "netns-cluster: two hosts × 2 ranks over TCP: dptrain train ${train_options[*]}" >&2
netns_run on_host_a "${mpirun_two_hosts[@]}" \
    "$dptrain_bin" train "${train_options[@]}" --out "$work_dir/two-hosts"
echo "netns-cluster: $(rx_bytes "$ns_b" "$veth_b") bytes crossed the veth pair into $host_b" >&2

# Float comparison with a relative tolerance: the two runs reduce over different transports, and
# MPI does not promise the same summation order on both, so bit-identity is not required.
tolerance=1e-5
# compare_columns WHAT: reads lines "a b", prints one verdict line, fails when any pair differs by
# more than tolerance · max(|a|, |b|).
compare_columns() {
    awk -v what="$1" -v tol="$tolerance" '
        function abs(x) { return x < 0 ? -x : x }
        { n++; a = $1 + 0; b = $2 + 0; d = abs(a - b); m = abs(a) > abs(b) ? abs(a) : abs(b)
          r = d == 0 ? 0 : d / m
          if (r > worst) worst = r
          if (d > tol * m) { bad++; if (bad <= 3) printf "netns-cluster:   %s #%d differs: %s vs %s\n", what, n, $1, $2 } }
        END { if (n == 0) { printf "netns-cluster: %s: nothing to compare\n", what; exit 1 }
              printf "netns-cluster: %s: %d values, largest relative difference %.3g%s\n", what, n, worst,
                     bad ? sprintf(", %d beyond the tolerance %s", bad, tol) : " (tolerance " tol " relative)"
              exit bad ? 1 : 0 }'
}

# losses FILE: "step loss" per logged step of a metrics.jsonl.
losses() {
    sed -n -E \
        -e 's/.*"step"[[:space:]]*:[[:space:]]*([0-9]+).*"loss"[[:space:]]*:[[:space:]]*([-+.0-9eE]+).*/\1 \2/p; t' \
        -e 's/.*"loss"[[:space:]]*:[[:space:]]*([-+.0-9eE]+).*"step"[[:space:]]*:[[:space:]]*([0-9]+).*/\2 \1/p' "$1"
}
# weights DIR: the F32 values of DIR's newest checkpoint, one per line, after its header.
safetensors_header_length() {
    od -A n -t u8 -N 8 "$1" | tr -d ' '
}
weights() {
    local file="$1/checkpoints/$(cat "$1/checkpoints/LATEST")/model.safetensors"
    od -A n -v -t f4 -j "$((8 + $(safetensors_header_length "$file")))" "$file" | tr -s ' ' '\n' | sed '/^$/d'
}

verdict=0
for dir in one-host two-hosts; do
    [ -s "$work_dir/$dir/metrics.jsonl" ] || netns_fail 1 "the $dir run wrote no metrics.jsonl."
    [ -s "$work_dir/$dir/checkpoints/LATEST" ] || netns_fail 1 "the $dir run wrote no checkpoint."
done
losses "$work_dir/one-host/metrics.jsonl" >"$work_dir/losses-one-host"
losses "$work_dir/two-hosts/metrics.jsonl" >"$work_dir/losses-two-hosts"
if ! cmp -s <(cut -d' ' -f1 "$work_dir/losses-one-host") <(cut -d' ' -f1 "$work_dir/losses-two-hosts"); then
    echo "netns-cluster: the two runs logged different steps" >&2
    verdict=1
fi
paste -d' ' <(cut -d' ' -f2 "$work_dir/losses-one-host") <(cut -d' ' -f2 "$work_dir/losses-two-hosts") \
    | compare_columns "logged losses" || verdict=1

one="$work_dir/one-host/checkpoints" two="$work_dir/two-hosts/checkpoints"
if [ "$(cat "$one/LATEST")" != "$(cat "$two/LATEST")" ]; then
    echo "netns-cluster: the newest checkpoints differ: $(cat "$one/LATEST") vs $(cat "$two/LATEST")" >&2
    verdict=1
else
    one_file="$one/$(cat "$one/LATEST")/model.safetensors" two_file="$two/$(cat "$two/LATEST")/model.safetensors"
    header_bytes=$((8 + $(safetensors_header_length "$one_file")))
    if ! cmp -s <(head -c "$header_bytes" "$one_file") <(head -c "$header_bytes" "$two_file"); then
        echo "netns-cluster: the final weights have different tensor names, shapes or offsets" >&2
        verdict=1
    fi
    paste -d' ' <(weights "$work_dir/one-host") <(weights "$work_dir/two-hosts") \
        | compare_columns "final weights ($(cat "$one/LATEST"))" || verdict=1
fi
if [ "$verdict" -eq 0 ]; then
    echo "netns-cluster: identical: one host and two hosts trained the same model (relative tolerance $tolerance)"
else
    echo "netns-cluster: DIFFERENT: one host and two hosts did not train the same model" >&2
fi
exit "$verdict"
