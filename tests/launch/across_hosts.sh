# Two hosts on one machine: two network namespaces joined by a veth pair, with private
# addresses that exist only inside them. launch/mpirun.sh runs in the first with a hostfile
# naming both; Open MPI starts its daemon on the second through netns_agent.sh (in place of
# ssh), and the ranks talk over TCP on the veth alone. The run must end with the bits of the
# same run on one host, and the veth must have carried the all-reduces. The namespaces are
# deleted afterwards. Skipped (77) where namespaces cannot be made (not root, no iproute2,
# no CAP_SYS_ADMIN).
#   bash tests/launch/across_hosts.sh SHARDMAX MPIEXEC
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$repo/tests/cli/common.sh" "$1" unused "$2"

readonly subnet=10.213.7.0/24 host_a=10.213.7.1 host_b=10.213.7.2
ns_a="shardmax-a-$$"
ns_b="shardmax-b-$$"

delete_namespaces() {
  ip netns delete "$ns_a" 2> /dev/null
  ip netns delete "$ns_b" 2> /dev/null  # deleting a namespace also deletes its veth end
}
trap 'delete_namespaces; rm -rf "$work"' EXIT

if [ "$(id -u)" -ne 0 ]; then echo "skipped: network namespaces need root"; exit 77; fi
if ! command -v ip > /dev/null; then
  echo "skipped: 'ip' not found: install iproute2 (bash launch/setup.sh does)"; exit 77
fi
if ! ip netns add "$ns_a" 2> netns.err || ! ip netns add "$ns_b" 2>> netns.err; then
  echo "skipped: cannot create network namespaces: $(cat netns.err)"; exit 77
fi
# A veth pair, one end in each namespace, and loopback up in both (Open MPI uses it).
ip link add "va-$$" type veth peer name "vb-$$" &&
  ip link set "va-$$" netns "$ns_a" && ip link set "vb-$$" netns "$ns_b" &&
  ip -n "$ns_a" addr add "$host_a/24" dev "va-$$" &&
  ip -n "$ns_b" addr add "$host_b/24" dev "vb-$$" &&
  ip -n "$ns_a" link set "va-$$" up && ip -n "$ns_b" link set "vb-$$" up &&
  ip -n "$ns_a" link set lo up && ip -n "$ns_b" link set lo up || {
  echo "skipped: cannot set up the veth pair between the namespaces"; exit 77
}

"$shardmax" gen --output train.h5 --val-output val.h5 --rows 20000 --val-rows 2000 \
  --features 100 --classes 5 --separation 2 > /dev/null || exit 1
args=(train --train train.h5 --val val.h5 --epochs 2 --batch-size 100 --lr 0.05
      --momentum 0.9 --progress-every 0)
steps=400

mpi 2 "${args[@]}" --checkpoint-dir one-host
checks=$((checks + 1))
[ "$status" = 0 ] || { fail "the run on one host failed: $status"; cat err.txt; }

printf '%s slots=1\n%s slots=1\n' "$host_a" "$host_b" > hostfile
received_before=$(ip -n "$ns_b" -s -j link show "vb-$$" | sed 's/.*"rx":{"bytes":\([0-9]*\).*/\1/')
started=$SECONDS
# TCP only, on the veth's subnet only; --bind-to none, or both "hosts" would bind their
# rank to core 0 of this one machine.
SHARDMAX_NETNS_HOSTS="$host_a=$ns_a $host_b=$ns_b" timeout 120 \
  ip netns exec "$ns_a" bash "$repo/launch/mpirun.sh" --hostfile hostfile -np 2 \
  --mca plm_rsh_agent "$repo/tests/launch/netns_agent.sh" \
  --mca btl tcp,self --mca btl_tcp_if_include "$subnet" --mca oob_tcp_if_include "$subnet" \
  --bind-to none "$shardmax" "${args[@]}" --checkpoint-dir two-hosts > out.txt 2> err.txt
status=$?
echo "the run across two hosts took $((SECONDS - started)) s"
received=$(($(ip -n "$ns_b" -s -j link show "vb-$$" | sed 's/.*"rx":{"bytes":\([0-9]*\).*/\1/') - received_before))
checks=$((checks + 1))
[ "$status" = 0 ] || { fail "the run across two hosts failed: $status"; cat out.txt err.txt; }
check "across hosts: 2 ranks" grep -q "2 ranks" out.txt
check "across hosts: the model equals the one-host run's bit for bit" \
  bash -c 'h5diff "$0" "$1" /model/weights && h5diff "$0" "$1" /model/bias' \
  one-host/model.h5 two-hosts/model.h5
# Every step all-reduces [grad W | grad b | loss | count] = (5*100 + 5 + 2) doubles.
expected=$((steps * (5 * 100 + 5 + 2) * 8))
echo "host b received $received bytes over the veth (the all-reduces alone: $expected)"
check "across hosts: the all-reduces crossed the veth" test "$received" -ge "$expected"

delete_namespaces
check "the namespaces are deleted" bash -c '! ip netns list | grep -q "shardmax-[ab]-$0"' "$$"
finish
