# Fault injection end to end: kill -9 one rank, or mpirun alone, at a random checkpointed step;
# kill -9 the checkpoint writer at each stage of a write (test hook); damage the newest
# checkpoint by truncation, a flipped byte and a deleted dataset. After each, every process of
# the job must be gone within 10 s, and `--resume auto` must end bitwise equal to an
# uninterrupted run.
source "$(dirname "$0")/common.sh" "$@"

h5diff_exact() {  # h5diff compares values exactly unless told a tolerance
  h5diff "$1" "$2" /model/weights && h5diff "$1" "$2" /model/bias &&
    h5diff "$1" "$2" /optimizer/velocity_weights && h5diff "$1" "$2" /optimizer/velocity_bias
}

"$shardmax" gen --output train.h5 --rows "${SHARDMAX_TEST_ROWS:-60000}" --features 160 --classes 6 --separation 2 \
  > /dev/null || exit 1
args=(train --train train.h5 --epochs 4 --batch-size 100 --lr 0.05 --momentum 0.9
      --checkpoint-unit step --checkpoint-every 50)

# The reference keeps every checkpoint, so a resumed run can also be compared mid-way.
mpi 3 "${args[@]}" --checkpoint-dir straight --keep 100
checks=$((checks + 1))
[ "$status" = 0 ] || { fail "uninterrupted run: status $status"; cat err.txt; exit 1; }
reference=$(ls straight/ckpt-*.h5 | tail -n 1)
final_step=$(basename "$reference" .h5 | sed 's/ckpt-0*//')
trials=0
exact=0

# Processes of session $1 that are still alive (zombies aside), one pid per line.
session_processes() {
  local stat fields
  for stat in /proc/[0-9]*/stat; do
    read -r -a fields 2> /dev/null < "$stat" || continue
    [ "${fields[5]}" = "$1" ] && [ "${fields[2]}" != Z ] && echo "${fields[0]}"
  done
}

# The pid of rank $2 of the job in session $1.
rank_pid() {
  local pid
  for pid in $(session_processes "$1"); do
    [ "$(cat "/proc/$pid/comm" 2> /dev/null)" = shardmax ] || continue
    tr '\0' '\n' < "/proc/$pid/environ" 2> /dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2" &&
      echo "$pid"
  done
}

newest_step() {
  ls "$1" 2> /dev/null | sed -n 's/^ckpt-0*\([0-9][0-9]*\)\.h5$/\1/p' | sort -n | tail -n 1
}

# start_job DIR [ENV...]: starts the training job in a session of its own, in the background;
# sets `job` to mpirun's pid, which is also the session's id.
start_job() {
  local dir=$1
  shift
  env "$@" setsid "$mpiexec" -n 3 --oversubscribe "$shardmax" "${args[@]}" --keep 2 \
    --checkpoint-dir "$dir" > "$dir.out" 2>&1 &
  job=$!
}

wait_for_step() {  # wait_for_step DIR STEP: until DIR holds a checkpoint of STEP or later
  for _ in $(seq 1 6000); do
    [ "$(newest_step "$1")" -ge "$2" ] 2> /dev/null && return 0
    sleep 0.02
  done
  return 1
}

# wait_for_rank0_death: until rank 0 of the job has died (the test hook kills it when it gets
# there), so that expect_all_gone's 10 s count from the kill, not from the start of training.
wait_for_rank0_death() {
  local pid="" polls=$((${SHARDMAX_TEST_HANG_SECONDS:-180} * 50))
  for _ in $(seq 1 "$polls"); do
    pid=$(rank_pid "$job" 0)
    [ -n "$pid" ] && break
    sleep 0.02
  done
  for _ in $(seq 1 "$polls"); do
    [ -n "$pid" ] && [ -z "$(session_processes "$job" | grep -x "$pid")" ] && return 0
    sleep 0.02
  done
  return 1
}

# expect_all_gone NAME: every process of the job's session ends within 10 s.
expect_all_gone() {
  checks=$((checks + 1))
  local waited
  for waited in $(seq 1 100); do
    [ -z "$(session_processes "$job")" ] && break
    sleep 0.1
  done
  if [ -n "$(session_processes "$job")" ]; then
    fail "$1: processes still running 10 s later: $(session_processes "$job" | tr '\n' ' ')"
    session_processes "$job" | xargs -r kill -9
  else
    echo "ok: $1: every process gone after $((waited / 10)).$((waited % 10)) s"
  fi
  wait "$job" 2> /dev/null
}

# resume_and_compare NAME DIR EXPECTED_RESUME_LINE [STOP_STEP]: --resume auto must finish (or
# stop at STOP_STEP) and end bitwise equal to the uninterrupted run at that step.
resume_and_compare() {
  local name=$1 dir=$2 expected=$3 stop=${4:-}
  trials=$((trials + 1))
  if [ -n "$stop" ]; then
    mpi 3 "${args[@]}" --keep 2 --checkpoint-dir "$dir" --resume auto --max-steps "$stop"
  else
    mpi 3 "${args[@]}" --keep 2 --checkpoint-dir "$dir" --resume auto
  fi
  checks=$((checks + 1))
  if [ "$status" != 0 ]; then
    fail "$name: resume failed with status $status"; cat err.txt
    return
  fi
  checks=$((checks + 1))
  if ! grep -qF "$expected" out.txt; then
    fail "$name: expected '$expected'"; cat out.txt err.txt
    return
  fi
  checks=$((checks + 1))
  local resumed expected_file same_model=true
  resumed=$(ls "$dir"/ckpt-*.h5 | tail -n 1)
  if [ -n "$stop" ]; then
    expected_file=$(printf 'straight/ckpt-%09d.h5' "$stop")
  else
    expected_file=$reference
    h5diff straight/model.h5 "$dir/model.h5" /model/weights > /dev/null &&
      h5diff straight/model.h5 "$dir/model.h5" /model/bias > /dev/null || same_model=false
  fi
  if [ "$(basename "$resumed")" = "$(basename "$expected_file")" ] &&
     h5diff_exact "$expected_file" "$resumed" > /dev/null && $same_model; then
    exact=$((exact + 1))
    echo "ok: $name: $(grep -F resuming out.txt), then bitwise equal to the uninterrupted run at step $(basename "$resumed" .h5 | sed 's/ckpt-0*//')"
  else
    fail "$name: the resumed run differs from the uninterrupted run"
  fi
}

random_target() {  # a checkpointed step in the first 60% of training, chosen by seed $1
  RANDOM=$1
  echo $((50 * (1 + RANDOM % (final_step * 6 / 10 / 50))))
}

# 1. kill -9 one rank (a random one) after a random checkpointed step.
for seed in 1 2 3; do
  dir=one-rank-$seed
  target=$(random_target "$seed")
  rank=$((RANDOM % 3))
  start_job "$dir"
  wait_for_step "$dir" "$target" || fail "seed $seed: no checkpoint of step $target appeared"
  victim=$(rank_pid "$job" "$rank")
  checks=$((checks + 1))
  if [ -z "$victim" ]; then
    fail "seed $seed: rank $rank not found (the job ended before the kill?)"
    wait "$job"
    continue
  fi
  kill -9 "$victim"
  echo "seed $seed: killed rank $rank (pid $victim) after a checkpoint of step $target"
  expect_all_gone "kill -9 of rank $rank (seed $seed)"
  resume_and_compare "kill -9 of rank $rank (seed $seed)" "$dir" "resuming from '$dir/ckpt-"
done

# 2. kill -9 mpirun alone: the ranks must not train on as orphans.
for seed in 4 5; do
  dir=launcher-$seed
  target=$(random_target "$seed")
  start_job "$dir"
  wait_for_step "$dir" "$target" || fail "seed $seed: no checkpoint of step $target appeared"
  kill -9 "$job"
  echo "seed $seed: killed mpirun (pid $job) after a checkpoint of step $target"
  expect_all_gone "kill -9 of mpirun (seed $seed)"
  before=$(newest_step "$dir")
  sleep 1
  check "no checkpoint is written after mpirun died (seed $seed)" test "$(newest_step "$dir")" = "$before"
  resume_and_compare "kill -9 of mpirun (seed $seed)" "$dir" "resuming from '$dir/ckpt-"
done

# 3. kill -9 of the writer (rank 0) inside the write of the checkpoint of step 500, through
#    the test hook: half the file written, all of it written but not renamed, renamed but
#    `latest` not updated. The previous checkpoint must load, and the leftovers be removed.
for stage in half-written written renamed; do
  dir=in-write-$stage
  start_job "$dir" SHARDMAX_TEST_KILL_IN_CHECKPOINT_WRITE="$stage:500"
  wait_for_rank0_death || fail "$stage: rank 0 did not die at the test hook"
  expect_all_gone "kill -9 of the writer at '$stage'"
  checks=$((checks + 1))
  if [ "$stage" = renamed ]; then
    [ -f "$dir/ckpt-000000500.h5" ] && [ ! -e "$dir/.ckpt-000000500.h5.tmp" ] ||
      fail "$stage: expected ckpt-000000500.h5 in place"
    resumed_from="$dir/ckpt-000000500.h5' at epoch "
  else
    [ -f "$dir/.ckpt-000000500.h5.tmp" ] && [ ! -e "$dir/ckpt-000000500.h5" ] ||
      fail "$stage: expected only the temporary file of step 500"
    resumed_from="$dir/ckpt-000000450.h5' at epoch "
  fi
  check "$stage: 'latest' still names step 450" test "$(cat "$dir/latest")" = ckpt-000000450.h5
  resume_and_compare "kill -9 in the checkpoint write at '$stage'" "$dir" \
    "resuming from '$resumed_from"
  if [ "$stage" != renamed ]; then
    check "$stage: the leftover temporary file is reported and removed" \
      grep -q "warning: removed '$dir/.ckpt-000000500.h5.tmp', left by a checkpoint write" err.txt
  fi
done

# 4. Damage to the newest checkpoint (step 300): detected, named, skipped; resume from 250
#    (and stop at 400, to compare with the uninterrupted run's checkpoint there).
mpi 3 "${args[@]}" --keep 2 --checkpoint-dir base --max-steps 300
check "a run stopped at step 300" test "$status" = 0
damage() {  # damage NAME KIND EXPECTED_REASON
  local name=$1 kind=$2 reason=$3 dir=damaged-$1
  cp -r base "$dir"
  local file=$dir/ckpt-000000300.h5
  case $kind in
    truncate) truncate -s -1000 "$file" ;;
    flip) printf '\377' | dd of="$file" bs=1 seek=$(($(stat -c %s "$file") / 2)) conv=notrunc 2> /dev/null ;;
    delete) "$make_bad_inputs" delete-dataset "$file" /optimizer/velocity_weights ;;
    delete-resealed) "$make_bad_inputs" delete-dataset "$file" /model/bias &&
                     "$make_bad_inputs" reseal "$file" ;;
  esac
  resume_and_compare "checkpoint $name" "$dir" "resuming from '$dir/ckpt-000000250.h5'" 400
  check "checkpoint $name: reported by name" \
    grep -qF "warning: --resume auto skips checkpoint '$file': $reason" err.txt
}
damage truncated truncate "truncated or extended"
damage "with a flipped byte" flip "damaged: the file's crc32 is"
damage "with a deleted dataset" delete "truncated or extended"
damage "with a deleted dataset, resealed" delete-resealed "no dataset '/model/bias'"

# Nothing verifies: an error naming each file, and nothing deleted.
cp -r base none-valid
truncate -s 100 none-valid/ckpt-000000250.h5 none-valid/ckpt-000000300.h5
expect_error "no checkpoint verifies" 3 1 "no checkpoint in 'none-valid' verifies" \
  "${args[@]}" --checkpoint-dir none-valid --resume auto
check "both damaged checkpoints are named" test "$(grep -c 'resume auto skips' err.txt)" = 2
check "the damaged checkpoints are kept" test -f none-valid/ckpt-000000250.h5

echo "kill-and-resume trials: $trials, bitwise equal: $exact"
finish
