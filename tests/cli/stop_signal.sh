# Stop signals end to end: SIGUSR1 to mpirun (which forwards it to every rank) or SIGUSR2 to
# one rank alone stops every rank after the same step with a checkpoint and exit status 75;
# --resume auto then ends bit for bit where an uninterrupted run ends. Also the progress
# output: plain lines into a file, a bar on a terminal, and the Slurm job tag on every line.
source "$(dirname "$0")/common.sh" "$@"

h5diff_exact() {  # h5diff compares values exactly unless told a tolerance
  h5diff "$1" "$2" /model/weights && h5diff "$1" "$2" /model/bias &&
    h5diff "$1" "$2" /optimizer/velocity_weights
}
# wait_job PID: its exit status in `status`; a job still running after 60 s is a hang (124).
# (Not `timeout mpirun`: the signal must reach mpirun itself.)
wait_job() {
  local tenths=0
  while kill -0 "$1" 2> /dev/null && [ "$tenths" -lt 600 ]; do
    sleep 0.1
    tenths=$((tenths + 1))
  done
  if kill -0 "$1" 2> /dev/null; then
    kill -9 "$1"
    wait "$1"
    status=124
    return
  fi
  wait "$1"
  status=$?
}

# The signals are sent while the ranks are held still (hold_ranks in common.sh), so they land
# mid-training however fast the machine is.
"$shardmax" gen --output train.h5 --val-output val.h5 --rows 20000 --val-rows 2000 \
  --features 400 --classes 10 --separation 2 > /dev/null || exit 1
# Progress lines every millisecond: however fast the machine, a run of 320 steps and 32
# checkpoints prints some.
args=(train --train train.h5 --val val.h5 --epochs 8 --batch-size 500 --lr 0.05 --momentum 0.9
      --checkpoint-unit step --checkpoint-every 10 --keep 2 --progress-every 0.001)
steps_per_epoch=40
final_step=$((8 * steps_per_epoch))

mpi 3 "${args[@]}" --checkpoint-dir straight
checks=$((checks + 1))
[ "$status" = 0 ] || { fail "uninterrupted run: status $status"; cat err.txt; }
reference=straight/ckpt-$(printf %09d "$final_step").h5
grep '^final' out.txt > reference-final.txt
check "plain progress lines go to a file" grep -q '^progress: epoch [0-9]/8  step [0-9]*/320  samples/s [0-9]*  ETA ' out.txt
check "no bar goes to a file" bash -c '! grep -q $'"'"'\r'"'"' out.txt'
check "the per-epoch lines keep their form" grep -q '^epoch 8/8  step 320  train_loss ' out.txt

# finish_stopped NAME: the stopped run must have exited 75 on every rank after a checkpoint
# mid-training; resuming it must end as the uninterrupted run did.
finish_stopped() {
  local name=$1 signal=$2 stopped_step
  checks=$((checks + 1))
  if [ "$status" != 75 ]; then
    fail "$name: every rank should exit 75, got '$status'"; cat out.txt err.txt
    return
  fi
  stopped_step=$(sed -n "s/^stopped by $signal at epoch [0-9]*, step \([0-9]*\); continue with --resume auto (exit status 75)$/\1/p" out.txt)
  checks=$((checks + 1))
  if [ -z "$stopped_step" ] || [ "$stopped_step" -ge "$final_step" ]; then
    fail "$name: no stop by $signal before the end"; cat out.txt
    return
  fi
  check "$name: the checkpoint of the stop step is committed" \
    test -f "$name/ckpt-$(printf %09d "$stopped_step").h5"
  check "$name: no final model after a stop" test ! -e "$name/model.h5"
  check "$name: stopped without the final evaluation" bash -c '! grep -q "^final" out.txt'
  mpi 3 "${args[@]}" --checkpoint-dir "$name" --resume auto
  checks=$((checks + 1))
  [ "$status" = 0 ] || { fail "$name: resume: status $status"; cat err.txt; return; }
  echo "$name: stopped by $signal at step $stopped_step; $(grep '^resuming' out.txt)"
  checks=$((checks + 1))
  h5diff_exact "$reference" "$name/ckpt-$(printf %09d "$final_step").h5" ||
    fail "$name: resumed weights differ from the uninterrupted run"
  checks=$((checks + 1))
  grep '^final' out.txt | diff - reference-final.txt || fail "$name: final metrics differ"
}

# 1. SIGUSR1 to mpirun once a random checkpoint in the first half is written.
RANDOM=7
target=$((10 * (1 + RANDOM % 15)))
"$mpiexec" -n 3 --oversubscribe "$shardmax" "${args[@]}" --checkpoint-dir usr1 \
  > out.txt 2> err.txt &
job=$!
if held=$(hold_ranks usr1 3 "$target"); then
  kill -USR1 "$job"
  release_when_pending 10 $held || fail "usr1: SIGUSR1 did not reach every rank through mpirun"
else
  fail "usr1: could not hold the 3 ranks after step $target"
fi
wait_job "$job"
finish_stopped usr1 SIGUSR1

# 2. SIGUSR2 to the last rank alone: the step's all-reduce tells the others. Each rank runs
#    in the background of a shell that records its pid and, afterwards, its exit status.
rm -rf pids statuses.txt && mkdir pids
"$mpiexec" -n 3 --oversubscribe bash -c \
  '"$0" "$@" & echo $! > pids/$OMPI_COMM_WORLD_RANK; wait $!; echo $? >> statuses.txt' \
  "$shardmax" "${args[@]}" --checkpoint-dir usr2 > out.txt 2> err.txt &
job=$!
if held=$(hold_ranks usr2 3 "$target"); then
  kill -USR2 "$(cat pids/2)"
  release_when_pending 12 "$(cat pids/2)" || fail "usr2: SIGUSR2 did not reach rank 2"
  kill -CONT $held
else
  fail "usr2: could not hold the 3 ranks after step $target"
fi
wait_job "$job"
if [ "$(sort -u statuses.txt | wc -l)" -eq 1 ] && [ "$(wc -l < statuses.txt)" -eq 3 ]; then
  status=$(head -n 1 statuses.txt)
else
  status="mixed:$(tr '\n' ' ' < statuses.txt)"
fi
finish_stopped usr2 SIGUSR2

# 3. Inside a Slurm job every line of the job log ends with the job tag (the variables are
#    given to the ranks only: mpirun itself would take them for an allocation).
short=(train --train train.h5 --epochs 2 --batch-size 100 --progress-every 0.0001)
"$mpiexec" -n 2 --oversubscribe env SLURM_JOB_ID=4242 SLURM_ARRAY_JOB_ID=4240 \
  SLURM_ARRAY_TASK_ID=2 SLURM_RESTART_COUNT=1 "$shardmax" "${short[@]}" \
  --checkpoint-dir tagged > out.txt 2> err.txt
check "a Slurm job's lines all end with the tag" \
  bash -c '[ "$(grep -vc "  \[slurm job 4240_2 restart 1\]$" out.txt)" = 0 ]'
check "a Slurm job's log has progress lines" grep -q '^progress: .*restart 1\]$' out.txt
check "a Slurm job's epoch line keeps its start" grep -q '^epoch 2/2  step 400 ' out.txt

# 4. A terminal gets a bar redrawn in place (script gives mpirun a terminal), no plain lines.
if command -v script > /dev/null; then
  script -qec "$mpiexec -n 2 --oversubscribe $shardmax ${short[*]} --checkpoint-dir bar" \
    typescript > /dev/null
  checks=$((checks + 1))
  if ! grep -qa $'\repoch [12]/2 \[[#.]*\] step [0-9]*/400  [0-9]* samples/s  ETA ' typescript ||
     ! grep -qa $'\r\e\[Kepoch 2/2  step 400 ' typescript; then
    fail "a terminal gets a progress bar, which the epoch line replaces"
    head -c 3000 typescript | cat -A
  fi
  check "a terminal gets no plain progress lines" bash -c '! grep -qa "^progress:" typescript'
fi

finish
