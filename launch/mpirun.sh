#!/usr/bin/env bash
# mpirun with the settings shardmax needs on a workstation or in a container:
#   launch/mpirun.sh -np 4 build/trainer/shardmax train --train data/train.h5 ...
# - as root, sets the two variables without which Open MPI 4.1 refuses to start;
# - without a host or hostfile option, adds --oversubscribe when more ranks are asked for than
#   this machine has cores (Open MPI counts a core as one slot);
# - sets OMPI_MCA_btl_vader_single_copy_mechanism=none (containers often forbid the CMA
#   single-copy path) unless it is already set.
# Everything else goes to mpirun unchanged.
set -euo pipefail

if [[ "$(id -u)" -eq 0 ]]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1
  export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
if [[ -z "${OMPI_MCA_btl_vader_single_copy_mechanism+set}" ]]; then
  export OMPI_MCA_btl_vader_single_copy_mechanism=none
fi

# The slots Open MPI finds here: one per core it may use. nproc honours the CPU affinity mask;
# with hyperthreads there are fewer cores than nproc reports.
available_slots() {
  local cpus cores
  cpus="$(nproc)"
  cores="$(lscpu -p=CORE,SOCKET 2>/dev/null | grep -v '^#' | sort -u | wc -l)" || cores=0
  if ((cores > 0 && cores < cpus)); then echo "${cores}"; else echo "${cpus}"; fi
}

# Reads mpirun's own options, up to the program (the first argument that is an executable
# file or a command), so the program's arguments are never mistaken for mpirun's.
ranks=""
has_hosts=false
has_oversubscribe=false
args=("$@")
for ((i = 0; i < ${#args[@]}; ++i)); do
  arg="${args[i]}"
  if [[ "${arg}" != -* ]]; then
    if [[ -f "${arg}" && -x "${arg}" ]] || command -v -- "${arg}" >/dev/null 2>&1; then break; fi
    continue
  fi
  case "${arg}" in
    -np | --np | -n | --n | -c)
      if ((i + 1 < ${#args[@]})); then ranks="${args[i + 1]}"; fi
      ;;
    -H | -host | --host | -hostfile | --hostfile | -machinefile | --machinefile | \
      -default-hostfile | --default-hostfile)
      has_hosts=true
      ;;
    -oversubscribe | --oversubscribe)
      has_oversubscribe=true
      ;;
  esac
done

extra=()
if [[ "${ranks}" =~ ^[0-9]+$ ]] && ! ${has_hosts} && ! ${has_oversubscribe}; then
  slots="$(available_slots)"
  if ((ranks > slots)); then
    echo "mpirun.sh: ${ranks} ranks on ${slots} cores: adding --oversubscribe" >&2
    extra+=(--oversubscribe)
  fi
fi

exec mpirun "${extra[@]}" "$@"
