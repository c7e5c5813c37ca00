# Valgrind memcheck on a short training run under mpiexec (2 ranks): stopped by --max-steps,
# then resumed from its checkpoint, so checkpoint writing and verified reading run too. Open
# MPI's own findings are suppressed by openmpi.supp; any other error or definite leak fails.
#   memcheck.sh SHARDMAX MPIEXEC
set -u
shardmax=$1
mpiexec=$2
suppressions="$(cd "$(dirname "$0")" && pwd)/openmpi.supp"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1

"$shardmax" gen --output train.h5 --val-output val.h5 --rows 400 --val-rows 100 --features 6 \
  --classes 3 > /dev/null || exit 1
failures=0
for stage in "--max-steps 10" "--resume auto"; do
  rm -f vg.*.log
  # shellcheck disable=SC2086  # $stage is two words on purpose
  "$mpiexec" -n 2 --oversubscribe valgrind --tool=memcheck --error-exitcode=99 \
    --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
    --num-callers=40 --suppressions="$suppressions" --log-file=vg.%p.log \
    "$shardmax" train --train train.h5 --val val.h5 --epochs 2 --batch-size 50 --momentum 0.9 \
    --checkpoint-unit step --checkpoint-every 5 --checkpoint-dir run $stage > out.txt 2>&1
  status=$?
  summaries=$(grep -h "ERROR SUMMARY" vg.*.log)
  if [ "$status" -eq 0 ] && [ "$(grep -c "ERROR SUMMARY: 0 errors" <<< "$summaries")" -eq 2 ]; then
    echo "ok: train $stage under valgrind: no errors in 2 ranks"
    grep -h "ERROR SUMMARY" vg.*.log
  else
    echo "FAIL: train $stage under valgrind (status $status)"
    cat out.txt vg.*.log
    failures=$((failures + 1))
  fi
done
grep -q "resuming from 'run/ckpt-000000010.h5'" out.txt ||
  { echo "FAIL: the second run did not resume"; failures=$((failures + 1)); }
echo "$((2 - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
