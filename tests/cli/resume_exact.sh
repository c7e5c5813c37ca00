# Stop-and-resume equals an uninterrupted run, bit for bit, through the real binary:
# once stopped by --max-steps mid-epoch, once killed with SIGKILL at a random moment.
source "$(dirname "$0")/common.sh" "$@"

h5diff_exact() {  # h5diff compares values exactly unless told a tolerance
  h5diff "$1" "$2" /model/weights && h5diff "$1" "$2" /model/bias &&
    h5diff "$1" "$2" /optimizer/velocity_weights
}

"$shardmax" gen --output train.h5 --val-output val.h5 --rows "${SHARDMAX_TEST_ROWS:-60000}" --val-rows 3000 \
  --features 160 --classes 6 --separation 2 > /dev/null || exit 1
args=(train --train train.h5 --val val.h5 --epochs 4 --batch-size 100 --lr 0.05 --momentum 0.9
      --checkpoint-unit step --checkpoint-every 25 --keep 2)

mpi 3 "${args[@]}" --checkpoint-dir straight
checks=$((checks + 1))
[ "$status" = 0 ] || { fail "uninterrupted run: status $status"; cat err.txt; }
reference=$(ls straight/ckpt-*.h5 | tail -n 1)
grep '^final' out.txt > reference-final.txt

# 1. --max-steps stops mid-epoch (600 steps per epoch), then --resume auto finishes.
mpi 3 "${args[@]}" --checkpoint-dir stopped --max-steps 437
checks=$((checks + 1))
grep -q "stopped at step 437" out.txt || { fail "no stop at step 437"; cat out.txt err.txt; }
mpi 3 "${args[@]}" --checkpoint-dir stopped --resume auto
checks=$((checks + 1))
grep -q "resuming from 'stopped/ckpt-000000437.h5'" out.txt || { fail "did not resume at 437"; cat out.txt; }
resumed=$(ls stopped/ckpt-*.h5 | tail -n 1)
checks=$((checks + 1))
if [ "$(basename "$reference")" != "$(basename "$resumed")" ] || ! h5diff_exact "$reference" "$resumed"; then
  fail "max-steps resume differs from the uninterrupted run ($reference vs $resumed)"
fi
checks=$((checks + 1))
grep '^final' out.txt | diff - reference-final.txt || fail "final metrics differ after resume"

# Open MPI puts each rank in its own process group, so killing mpirun's group would leave
# the ranks running: kill every process of the job's session instead (no procps needed).
kill_session() {
  local stat fields
  for stat in /proc/[0-9]*/stat; do
    read -r -a fields < "$stat" 2> /dev/null || continue
    [ "${fields[5]}" = "$1" ] && kill -9 "${fields[0]}" 2> /dev/null
  done
}

newest_step() {
  ls "$1" 2> /dev/null | sed -n 's/^ckpt-0*\([0-9][0-9]*\)\.h5$/\1/p' | sort -n | tail -n 1
}

# 2. SIGKILL the whole job (mpirun and ranks) as soon as it has checkpointed a random step
#    in the first 60% of training, so it dies mid-training, at a point that differs by seed.
final_step=$(basename "$reference" .h5 | sed 's/ckpt-0*//')
for seed in 1 2 3; do
  rm -rf killed
  RANDOM=$seed
  target=$((25 * (1 + RANDOM % (final_step * 6 / 10 / 25))))
  setsid "$mpiexec" -n 3 --oversubscribe "$shardmax" "${args[@]}" --checkpoint-dir killed \
    > killed.out 2>&1 &
  job=$!
  for _ in $(seq 1 6000); do
    [ "$(newest_step killed)" -ge "$target" ] 2> /dev/null && break
    sleep 0.02
  done
  kill_session "$job"
  wait "$job" 2> /dev/null
  mpi 3 "${args[@]}" --checkpoint-dir killed --resume auto
  checks=$((checks + 1))
  if [ "$status" != 0 ]; then
    fail "resume after SIGKILL (seed $seed): status $status"; cat err.txt
    continue
  fi
  resumed_line=$(grep resuming out.txt)
  echo "seed $seed: killed after a checkpoint of step $target; ${resumed_line:-no checkpoint: fresh start}"
  checks=$((checks + 1))
  case "$resumed_line" in
    *"step $final_step") fail "seed $seed: the job finished before the kill, nothing was tested" ;;
  esac
  resumed=$(ls killed/ckpt-*.h5 | tail -n 1)
  checks=$((checks + 1))
  h5diff_exact "$reference" "$resumed" || fail "SIGKILL resume (seed $seed) differs"
done

finish
