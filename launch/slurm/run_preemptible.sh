#!/usr/bin/env bash
# Runs one shardmax training run inside a Slurm batch job so that it survives the job's time
# limit and preemption; the batch templates beside it end with this script.
#   bash launch/slurm/run_preemptible.sh RUN_DIR LAUNCHER... SHARDMAX train [options...]
#   bash launch/slurm/run_preemptible.sh runs/a bash launch/mpirun.sh build/trainer/shardmax \
#       train --config run.ini
# It appends `--checkpoint-dir RUN_DIR` to the command, and `--resume auto` when the job is
# a restart (SLURM_RESTART_COUNT > 0) or RUN_DIR already holds a checkpoint. It runs the
# command in the background and passes SIGUSR1/SIGUSR2 (and TERM, HUP) on to it: Slurm's
# --signal=B:USR1@<seconds> reaches only this shell, and bash would hold a trap back until a
# foreground command ended. The ranks then checkpoint after their current step and exit 75.
# Exit status, then:
#   0   training finished
#   75  stopped by the signal after a checkpoint: the job requeues itself with
#       `scontrol requeue` (its array task alone, in an array job) unless no checkpoint was
#       committed; once it runs again it resumes
#   any other: the command's status (1 bad input or data, 2 bad options): never requeued,
#       since running it again would fail the same way
set -euo pipefail

# shellcheck source=launch/lib/forward_signals.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/forward_signals.sh"

readonly kExitStoppedToResume=75  # kExitStoppedToResume in common/error.hpp

if (($# < 2)); then
  echo "usage: bash launch/slurm/run_preemptible.sh RUN_DIR LAUNCHER... SHARDMAX train [options...]" >&2
  exit 2
fi
run_dir=$1
shift

# The job as users name it (squeue, sacct, %A_%a): array tasks as <array job>_<task>. The
# tag has the form of the trainer's own lines (common/job_tag.cpp).
job_id="${SLURM_JOB_ID:-}"
if [[ -n "${SLURM_ARRAY_JOB_ID:-}" && -n "${SLURM_ARRAY_TASK_ID:-}" ]]; then
  job_id="${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"
fi
restarts="${SLURM_RESTART_COUNT:-0}"
tag=""
if [[ -n "${job_id}" ]]; then tag="  [slurm job ${job_id} restart ${restarts}]"; fi
log() { echo "run_preemptible.sh: $*${tag}"; }

has_checkpoint() { compgen -G "${run_dir}/ckpt-*.h5" > /dev/null; }

command=("$@" --checkpoint-dir "${run_dir}")
if ((restarts > 0)); then
  command+=(--resume auto)
  log "restart ${restarts} of the job: resuming from the newest checkpoint in ${run_dir}"
elif has_checkpoint; then
  command+=(--resume auto)
  log "${run_dir} holds checkpoints: resuming from the newest"
else
  log "starting afresh in ${run_dir}"
fi

on_forwarded_signal() {
  log "received SIG$1: passing it on, so that the ranks checkpoint and stop"
}
run_forwarding_signals "${command[@]}"
status=${child_status}

case "${status}" in
  0)
    log "training finished"
    ;;
  "${kExitStoppedToResume}")
    if ! has_checkpoint; then
      log "stopped, but ${run_dir} holds no committed checkpoint: not requeueing"
    elif [[ -z "${job_id}" ]]; then
      log "stopped after a checkpoint; not in a Slurm job: run the same command again to resume"
    elif scontrol requeue "${job_id}"; then
      log "stopped after a checkpoint: requeued job ${job_id}; it resumes when it runs again"
    else
      log "stopped after a checkpoint, but 'scontrol requeue ${job_id}' failed: submit the" \
          "job again to resume from ${run_dir}"
    fi
    ;;
  *)
    log "training failed with exit status ${status}: not requeueing (see the error above)"
    ;;
esac
exit "${status}"
