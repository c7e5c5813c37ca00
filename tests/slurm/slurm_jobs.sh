# shardmax under a real Slurm: a private single-node cluster (slurm_cluster.sh) runs
#   1. launch/slurm/train.sbatch with 2 tasks; its model equals plain mpirun's, bit for bit;
#   2. the same job stopped by SIGUSR1 to its batch shell (scancel --signal=USR1 --batch):
#      it checkpoints, requeues itself, restarts with SLURM_RESTART_COUNT=1, resumes and
#      ends with the uninterrupted run's weights, bit for bit;
#   3. a job with bad input: it fails with status 1, is not requeued, and its log holds the
#      message;
#   4. srun --mpi=pmix -n 2, Slurm's direct launch: the same weights as mpirun;
#   5. the weight-decay sweep as a 2-task job array, one task stopped and requeued alone
#      (array-aware), and collect_scores.sh ranking the tasks;
#   6. preemption: a job of a higher partition takes the node; the running job, launched by
#      srun this time (SHARDMAX_LAUNCHER=srun), gets its SIGUSR1 at once, checkpoints, is
#      requeued, and resumes after the other job.
# Skipped (status 77, with the reason) where the private Slurm cannot run.
#   bash tests/slurm/slurm_jobs.sh SHARDMAX MPIEXEC
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$repo/tests/cli/common.sh" "$1" unused "$2"
source "$repo/tests/slurm/slurm_cluster.sh"
trap 'stop_slurm_cluster; rm -rf "$work"' EXIT
started=$SECONDS
start_slurm_cluster || exit $?  # 77: skipped (no root or no Slurm); 1: failed to start
echo "cluster up in $((SECONDS - started)) s"

h5diff_exact() {  # h5diff compares values exactly unless told a tolerance
  h5diff "$1" "$2" /model/weights && h5diff "$1" "$2" /model/bias
}
# expect_job JOB SECONDS STATE EXIT_CODE RESTARTS LOG: the job ends in STATE with
# EXIT_CODE (as scontrol shows it, e.g. 0:0) after RESTARTS restarts; else prints its log.
expect_job() {
  local job=$1 seconds=$2 state=$3 exit_code=$4 restarts=$5 log=$6 got
  checks=$((checks + 1))
  got="$(wait_job_state "$job" "$seconds" COMPLETED FAILED CANCELLED TIMEOUT NODE_FAIL OUT_OF_MEMORY) $(job_field "$job" ExitCode) $(job_field "$job" Restarts)"
  if [ "$got" = "$state $exit_code $restarts" ]; then
    echo "ok: job $job: $got (state, exit code, restarts)"
  else
    fail "job $job: expected '$state $exit_code $restarts' (state, exit code, restarts), got '$got'"
    cat "$log"
  fi
}
# requeue_at_once JOB: once the requeued job is pending, let it start now instead of in two
# minutes (not in the second of the requeue, which fails with "Job credential revoked").
requeue_at_once() {
  local state
  state=$(wait_job_state "$1" 60 PENDING)
  checks=$((checks + 1))
  if [ "$state" != PENDING ]; then
    fail "job $1 was not requeued: its state is $state"
    return 1
  fi
  sleep 1.1
  scontrol update jobid="$1" StartTime=now
}
# signal_after_checkpoint JOB RUN_DIR: SIGUSR1 to the job's batch shell once it has written
# a checkpoint, as Slurm's --signal=B:USR1@<seconds> does before the time limit, with the
# ranks held still until it has reached them (hold_ranks in tests/cli/common.sh).
signal_after_checkpoint() {
  local held
  checks=$((checks + 1))
  if ! held=$(hold_ranks "$2" 2 1); then
    fail "job $1: could not hold its 2 ranks after a checkpoint in $2"
    return 1
  fi
  scancel --signal=USR1 --batch "$1"
  release_when_pending 10 $held || { fail "job $1: SIGUSR1 did not reach the ranks"; return 1; }
}

"$shardmax" gen --output train.h5 --val-output val.h5 --rows 20000 --val-rows 2000 \
  --features 400 --classes 10 --separation 2 > /dev/null || exit 1
cat > run.ini << INI
train = $work/train.h5
val = $work/val.h5
epochs = 8
batch-size = 500
lr = 0.05
momentum = 0.9
checkpoint-unit = step
checkpoint-every = 10
keep = 2
progress-every = 0.001
INI
final=ckpt-000000320.h5

# The reference: plain mpirun, 2 ranks.
mpi 2 train --config run.ini --checkpoint-dir "$work/reference"
checks=$((checks + 1))
[ "$status" = 0 ] || { fail "the reference run under mpirun failed: $status"; cat err.txt; }

# submit NAME [sbatch options] -- [train options]: the batch template, from the repository
# root, with this test's binary, config and run directory; prints the job id.
submit() {
  local name=$1 sbatch_options=()
  shift
  while [ $# -gt 0 ] && [ "$1" != -- ]; do sbatch_options+=("$1"); shift; done
  shift
  SHARDMAX="$shardmax" SHARDMAX_CONFIG="$work/run.ini" SHARDMAX_RUN_DIR="$work/$name" \
    sbatch --parsable --chdir="$repo" --output="$work/$name-%j.out" "${sbatch_options[@]}" \
    "$repo/launch/slurm/train.sbatch" "$@"
}

# 1. A batch job ends with plain mpirun's bits.
started=$SECONDS
job=$(submit batch --)
expect_job "$job" 180 COMPLETED 0:0 0 "$work/batch-$job.out"
echo "case 1: batch job $job took $((SECONDS - started)) s"
check "batch job: the model equals mpirun's bit for bit" \
  h5diff_exact "$work/reference/model.h5" "$work/batch/model.h5"
check "batch job: every line of its log names the job" \
  test "$(grep -vc "  \[slurm job $job restart 0\]$" "$work/batch-$job.out")" = 0
check "batch job: progress lines in the log" grep -q "^progress: epoch " "$work/batch-$job.out"

# 2. SIGUSR1 to the batch shell: checkpoint, requeue, restart, resume, same bits.
started=$SECONDS
job=$(submit preempted --)
log="$work/preempted-$job.out"
if signal_after_checkpoint "$job" "$work/preempted" && requeue_at_once "$job"; then
  echo "case 2: requeued $((SECONDS - started)) s after submission"
  expect_job "$job" 180 COMPLETED 0:0 1 "$log"
  echo "case 2: preempted job $job took $((SECONDS - started)) s in all"
  check "preempted: the batch shell passed SIGUSR1 on" grep -q "received SIGUSR1: passing it on" "$log"
  stop_line=$(grep "^stopped by SIGUSR1 at epoch" "$log")
  echo "preempted: $stop_line"
  check "preempted: the ranks stopped mid-training with a checkpoint" \
    test -n "$stop_line" -a -z "$(echo "$stop_line" | grep "step 320;")"
  check "preempted: requeued itself" grep -q "stopped after a checkpoint: requeued job $job" "$log"
  check "preempted: restarted with SLURM_RESTART_COUNT=1 and resumed" \
    grep -q "^run_preemptible.sh: restart 1 of the job: resuming .*\[slurm job $job restart 1\]$" "$log"
  check "preempted: the trainer resumed from the checkpoint" \
    grep -q "^resuming from '$work/preempted/ckpt-.*restart 1\]$" "$log"
  check "preempted: the final weights equal the uninterrupted run's bit for bit" \
    h5diff_exact "$work/reference/$final" "$work/preempted/$final"
  check "preempted: the model equals the uninterrupted run's" \
    h5diff_exact "$work/reference/model.h5" "$work/preempted/model.h5"
else
  cat "$log"
fi

# 3. Bad input fails at once, with its message in the log, and is never requeued.
job=$(submit bad-input -- --train "$work/missing.h5")
log="$work/bad-input-$job.out"
expect_job "$job" 120 FAILED 1:0 0 "$log"
sleep 2
check "bad input: still failed, not requeued, 2 s later" \
  test "$(job_field "$job" JobState) $(job_field "$job" Restarts)" = "FAILED 0"
check "bad input: the log holds the message" \
  grep -q "^shardmax: error: cannot open data file '$work/missing.h5'" "$log"
check "bad input: the script says why it does not requeue" \
  grep -q "training failed with exit status 1: not requeueing" "$log"

# 4. srun --mpi=pmix: Slurm starts the ranks itself (PMIx), without mpirun.
started=$SECONDS
srun --mpi=pmix -n 2 "$shardmax" train --config run.ini --checkpoint-dir "$work/srun" \
  > srun.out 2>&1
status=$?
echo "case 4: srun took $((SECONDS - started)) s"
checks=$((checks + 1))
[ "$status" = 0 ] || { fail "srun --mpi=pmix: status $status"; cat srun.out; }
check "srun: 2 ranks" grep -q "2 ranks" srun.out
check "srun: the model equals mpirun's bit for bit" \
  h5diff_exact "$work/reference/model.h5" "$work/srun/model.h5"

# 5. The sweep as a job array; task 1 is stopped and requeued alone.
started=$SECONDS
array=$(SHARDMAX="$shardmax" SHARDMAX_CONFIG="$work/run.ini" SHARDMAX_SWEEP_DIR="$work/sweep" \
  SHARDMAX_WEIGHT_DECAYS="1e-4 0.05" sbatch --parsable --chdir="$repo" --array=0-1 \
  --output="$work/sweep-%A_%a.out" "$repo/launch/slurm/sweep_weight_decay.sbatch" --epochs 6)
if signal_after_checkpoint "${array}_1" "$work/sweep/weight-decay-0.05" &&
   requeue_at_once "${array}_1"; then
  expect_job "${array}_0" 180 COMPLETED 0:0 0 "$work/sweep-${array}_0.out"
  expect_job "${array}_1" 180 COMPLETED 0:0 1 "$work/sweep-${array}_1.out"
  echo "case 5: the sweep took $((SECONDS - started)) s"
  check "sweep: task 1 requeued itself by its array name" \
    grep -q "requeued job ${array}_1;" "$work/sweep-${array}_1.out"
  check "sweep: task 1's lines name the array task and its restart" \
    grep -q "^epoch 6/6 .*  \[slurm job ${array}_1 restart 1\]$" "$work/sweep-${array}_1.out"
  bash "$repo/launch/slurm/collect_scores.sh" "$work/sweep" > scores.txt
  cat scores.txt
  check "sweep: collect_scores.sh lists both tasks" test "$(wc -l < scores.txt)" = 2
  check "sweep: best first" bash -c 'sort -gr -k1,1 "$0" | diff -q - "$0"' scores.txt
  check "sweep: each task trained with its weight decay" bash -c \
    'h5dump -a /weight_decay "$0/weight-decay-0.05/model.h5" | grep -q "0.05" &&
     h5dump -a /weight_decay "$0/weight-decay-1e-4/model.h5" | grep -q "0.0001"' "$work/sweep"
else
  cat "$work"/sweep-*.out
fi

# 6. Preemption by a job of a higher-priority partition; the ranks started by srun, to which
#    the batch shell passes the signal on.
started=$SECONDS
job=$(SHARDMAX_LAUNCHER=srun submit preemptible -- --epochs 20)
log="$work/preemptible-$job.out"
checks=$((checks + 1))
if held=$(hold_ranks "$work/preemptible" 2 1); then
  urgent=$(sbatch --parsable --partition=urgent --ntasks=2 --output="$work/urgent-%j.out" \
    --wrap "echo the urgent job ran")
  release_when_pending 10 $held || fail "preemption: no SIGUSR1 reached the ranks"
  expect_job "$urgent" 120 COMPLETED 0:0 0 "$work/urgent-$urgent.out"
  if requeue_at_once "$job"; then
    expect_job "$job" 180 COMPLETED 0:0 1 "$log"
    echo "case 6: the preempted job took $((SECONDS - started)) s in all"
    stop_line=$(grep "^stopped by SIGUSR1 at epoch" "$log")
    echo "preemption: $stop_line"
    check "preemption: SIGUSR1 came at once, and the ranks stopped mid-training" \
      test -n "$stop_line" -a -z "$(echo "$stop_line" | grep "step 800;")"
    check "preemption: the restart resumed from that checkpoint" \
      grep -q "^resuming from '$work/preemptible/ckpt-.*restart 1\]$" "$log"
    check "preemption: the job finished" grep -q "^run_preemptible.sh: training finished" "$log"
    check "preemption: srun, not mpirun, ran the ranks" \
      bash -c 'grep -q "^srun: error: .*Exited with exit code 75" "$0" && ! grep -q "^mpirun" "$0"' "$log"
  fi
else
  fail "job $job: could not hold its 2 ranks after a checkpoint"
  cat "$log"
fi

finish
