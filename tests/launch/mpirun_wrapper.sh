# launch/mpirun.sh end to end: the job's own temporary directory (used by Open MPI, removed
# afterwards, even when mpirun is killed), exit statuses and signals passed through, the
# hostfile check, and --oversubscribe only where needed.
#   bash tests/launch/mpirun_wrapper.sh SHARDMAX MPIEXEC
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$repo/tests/cli/common.sh" "$1" unused "$2"
wrapper="$repo/launch/mpirun.sh"
export SHARDMAX_TMPDIR="$work/tmp"
mkdir "$SHARDMAX_TMPDIR"

"$shardmax" gen --output train.h5 --rows 20000 --features 400 --classes 10 > /dev/null || exit 1

# The ranks see the job's directory as TMPDIR, and Open MPI keeps its session files there.
bash "$wrapper" -np 2 bash -c 'echo "rank tmp $TMPDIR"; ls "$TMPDIR"' > out.txt 2> err.txt
check "a run succeeds" test $? = 0
job_tmp=$(sed -n 's/^rank tmp //p' out.txt | sort -u)
check "both ranks share one job directory under SHARDMAX_TMPDIR" \
  bash -c '[ "$(echo "$0" | wc -l)" = 1 ] && [[ "$0" == "$1"/shardmax-job.* ]]' "$job_tmp" "$SHARDMAX_TMPDIR"
check "Open MPI keeps its session files there" grep -q '^ompi\.' out.txt
check "the job directory is removed afterwards" test -z "$(ls -A "$SHARDMAX_TMPDIR")"

# Exit statuses come through: a usage error is 2 on every rank, so 2 from mpirun.
bash "$wrapper" -np 2 "$shardmax" train --train train.h5 --lr 0 > out.txt 2> err.txt
check "a usage error exits 2" test $? = 2

# SIGUSR1 to the wrapper reaches the ranks: checkpoint and status 75.
bash "$wrapper" -np 2 "$shardmax" train --train train.h5 --epochs 50 --batch-size 500 \
  --checkpoint-dir usr1 --progress-every 0 > out.txt 2> err.txt &
job=$!
if held=$(hold_ranks usr1 2 1); then  # still, so that the signal lands mid-training
  kill -USR1 "$job"
  release_when_pending 10 $held || fail "SIGUSR1 did not reach the ranks through the wrapper"
fi
wait "$job"
check "SIGUSR1 to the wrapper stops the job with status 75" test $? = 75
check "the ranks checkpointed" grep -q '^stopped by SIGUSR1 at epoch ' out.txt

# mpirun killed outright: the wrapper still removes the job directory.
bash "$wrapper" -np 2 "$shardmax" train --train train.h5 --epochs 1000 --batch-size 500 \
  --checkpoint-dir killed --progress-every 0 > out.txt 2> err.txt &
job=$!
for _ in $(seq 1 600); do [ -e killed/metrics.csv ] && break; sleep 0.1; done
mpirun_pid=$(cat "/proc/$job/task/$job/children" 2> /dev/null | tr ' ' '\n' | head -n 1)
if [ -n "$mpirun_pid" ]; then
  kill -KILL "$mpirun_pid"
  wait "$job"
  check "mpirun killed: the wrapper exits 137" test $? = 137
  check "mpirun killed: the job directory is removed" test -z "$(ls -A "$SHARDMAX_TMPDIR")"
  # The ranks lose their daemon and end by themselves; any left would be killed here.
  ranks_left() {
    local dir
    for dir in /proc/[0-9]*; do
      [ "$(readlink "$dir/cwd" 2> /dev/null)" = "$work" ] &&
        tr '\0' ' ' < "$dir/cmdline" 2> /dev/null | grep -q -- "--checkpoint-dir killed" &&
        echo "${dir#/proc/}"
    done
  }
  for _ in $(seq 1 100); do [ -z "$(ranks_left)" ] && break; sleep 0.1; done
  left=$(ranks_left)
  check "mpirun killed: its ranks end within 10 s" test -z "$left"
  [ -z "$left" ] || kill -KILL $left
else
  echo "(no /proc/PID/task/PID/children here: the mpirun-killed case is left out)"
  wait "$job"
fi

# Hostfiles: a missing one is named; with one, the slots come from it (no oversubscribe).
bash "$wrapper" --hostfile absent-hosts -np 2 "$shardmax" train --train train.h5 \
  > out.txt 2> err.txt
check "a missing hostfile exits 2" test $? = 2
check "a missing hostfile is named" grep -q "cannot read the hostfile 'absent-hosts' (--hostfile)" err.txt
echo "localhost slots=2" > hosts
bash "$wrapper" --hostfile hosts -np 2 "$shardmax" train --train train.h5 --epochs 1 \
  --checkpoint-dir hostfile > out.txt 2> err.txt
check "a hostfile's slots run the ranks" grep -q "2 ranks" out.txt
check "with a hostfile nothing is oversubscribed by the wrapper" \
  bash -c '! grep -q "adding --oversubscribe" err.txt'
ranks=$(($(nproc) + 1))
bash "$wrapper" -np "$ranks" "$shardmax" train --train train.h5 --epochs 1 \
  --checkpoint-dir many > out.txt 2> err.txt
check "more ranks than cores: oversubscribed, and said so" \
  bash -c 'grep -q "$0 ranks" out.txt && grep -q "adding --oversubscribe" err.txt' "$ranks"

finish
