#!/usr/bin/env bash
# Open MPI's remote launcher (plm_rsh_agent) for hosts that are network namespaces on this
# machine, in place of ssh: Open MPI runs `netns_agent.sh HOST COMMAND` as it would run
# `ssh HOST COMMAND`, and this runs COMMAND (the orted daemon) in HOST's namespace.
# SHARDMAX_NETNS_HOSTS maps addresses to namespaces: "10.213.7.1=ns-a 10.213.7.2=ns-b".
set -euo pipefail
host=$1
shift
for pair in ${SHARDMAX_NETNS_HOSTS:-}; do
  if [[ "${pair%%=*}" == "${host}" ]]; then
    exec ip netns exec "${pair#*=}" /bin/sh -c "$*"
  fi
done
echo "netns_agent.sh: no namespace for host '${host}' in SHARDMAX_NETNS_HOSTS='${SHARDMAX_NETNS_HOSTS:-}'" >&2
exit 255
