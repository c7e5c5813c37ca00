#!/usr/bin/env bash
# mpirun with the settings shardmax needs on a workstation, in a container, across hosts or
# inside a Slurm allocation:
#   launch/mpirun.sh -np 4 build/trainer/shardmax train --train data/train.h5 ...
#   launch/mpirun.sh --hostfile hosts -np 16 build/trainer/shardmax train ...
# - as root, sets the two variables without which Open MPI 4.1 refuses to start;
# - without a host option, a hostfile or a Slurm allocation (which give the slots), adds
#   --oversubscribe when more ranks are asked for than this machine has cores (Open MPI
#   counts a core as one slot);
# - checks that a --hostfile/--machinefile is readable, so a typo gets a clear message;
# - sets OMPI_MCA_btl_vader_single_copy_mechanism=none (containers often forbid the CMA
#   single-copy path) unless it is already set;
# - gives the job its own temporary directory on this node (under SHARDMAX_TMPDIR, else
#   TMPDIR, else /tmp) as TMPDIR of mpirun and its local ranks, where Open MPI keeps its
#   session files; it is removed when mpirun ends, so jobs never share these files and a
#   killed job leaves none behind.
# Signals sent to this script (TERM, HUP, USR1, USR2) are passed on to mpirun, which passes
# USR1 and USR2 on to every rank. Everything else goes to mpirun unchanged; the exit status
# is mpirun's.
set -euo pipefail

# shellcheck source=launch/lib/forward_signals.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/forward_signals.sh"

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
    -hostfile | --hostfile | -machinefile | --machinefile | -default-hostfile | --default-hostfile)
      has_hosts=true
      file="${args[i + 1]:-}"
      if [[ ! -r "${file}" ]]; then
        echo "mpirun.sh: cannot read the hostfile '${file}' (${arg})" >&2
        exit 2
      fi
      ;;
    -H | -host | --host)
      has_hosts=true
      ;;
    -oversubscribe | --oversubscribe)
      has_oversubscribe=true
      ;;
  esac
done
# Inside a Slurm allocation Open MPI takes the hosts and slots from Slurm.
if [[ -n "${SLURM_JOB_ID:-}" ]]; then has_hosts=true; fi

extra=()
if [[ "${ranks}" =~ ^[0-9]+$ ]] && ! ${has_hosts} && ! ${has_oversubscribe}; then
  slots="$(available_slots)"
  if ((ranks > slots)); then
    echo "mpirun.sh: ${ranks} ranks on ${slots} cores: adding --oversubscribe" >&2
    extra+=(--oversubscribe)
  fi
fi

job_tmp="$(mktemp -d "${SHARDMAX_TMPDIR:-${TMPDIR:-/tmp}}/shardmax-${SLURM_JOB_ID:-job}.XXXXXX")"
trap 'rm -rf "${job_tmp}"' EXIT
# Open MPI keeps its session files under TMPDIR; the ranks started on this node get it too.
# (Its orte_local_tmpdir_base would be narrower, but Open MPI 4.1 then refuses to start the
# ranks: they see both it and orte_tmpdir_base.)
export TMPDIR="${job_tmp}"

run_forwarding_signals mpirun "${extra[@]}" "$@"
exit "${child_status}"
