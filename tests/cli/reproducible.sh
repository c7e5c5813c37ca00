# --reproducible: the same bits on 1, 2, 3 and 4 ranks for every solver, and a run
# checkpointed on 4 ranks resumed on 2 and on 1 ends exactly where the 4-rank run ends
# (README, "Reproducibility"). Arrays are compared by checksums of their raw bytes.
source "$(dirname "$0")/common.sh" "$@"

# The raw bytes of the model's (or a checkpoint's) arrays, as one checksum.
arrays_checksum() {
  h5dump -b LE -o arrays.bin -d /model/weights -d /model/bias "$1" > /dev/null &&
    md5sum < arrays.bin | cut -d ' ' -f 1
}

# same_on_ranks NAME ARGS...: trains on 1, 2, 3 and 4 ranks; the models' arrays, the metrics
# log (losses per epoch, without the timing columns) and the final metrics must all agree.
same_on_ranks() {
  local name=$1 ranks reference="" sums="" metrics
  shift
  for ranks in 1 2 3 4; do
    rm -rf "run-$name-$ranks"
    mpi "$ranks" train "$@" --checkpoint-dir "run-$name-$ranks" --progress-every 0
    checks=$((checks + 1))
    if [ "$status" != 0 ]; then
      fail "$name on $ranks ranks: status $status"; cat err.txt; return
    fi
    metrics=$(cut -d , -f 1-6 "run-$name-$ranks/metrics.csv"; grep '^final' out.txt)
    sums="$sums $(arrays_checksum "run-$name-$ranks/model.h5")"
    if [ -z "$reference" ]; then
      reference=$metrics
    elif [ "$metrics" != "$reference" ]; then
      fail "$name: the losses on $ranks ranks differ from 1 rank"
      diff <(echo "$reference") <(echo "$metrics")
    fi
  done
  checks=$((checks + 1))
  if [ "$(echo $sums | tr ' ' '\n' | sort -u | wc -l)" -eq 1 ]; then
    echo "ok: $name: the same weights on 1, 2, 3 and 4 ranks ($(echo $sums | cut -d ' ' -f 1))"
  else
    fail "$name: the weights differ with the rank count:$sums"
  fi
}

# 2999 rows: the virtual shards differ in size by one row, and no rank count divides them evenly.
"$shardmax" gen --output train.h5 --val-output val.h5 --rows 2999 --val-rows 701 --features 24 \
  --classes 5 --separation 2 > /dev/null || exit 1
"$shardmax" gen --output multi.h5 --rows 1500 --features 12 --classes 4 --multi-label \
  > /dev/null || exit 1
common=(--train train.h5 --val val.h5 --reproducible)

same_on_ranks sgd "${common[@]}" --epochs 3 --batch-size 100 --lr 0.1 --momentum 0.9
# Up to 24 ranks: every virtual shard summed alone (up to 8, the default, in 12 segments).
same_on_ranks sgd-up-to-24-ranks "${common[@]}" --epochs 2 --batch-size 100 --lr 0.1 \
  --max-ranks 24
same_on_ranks adamw "${common[@]}" --solver adamw --epochs 2 --batch-size 64 --lr 0.01 \
  --standardize --class-weight balanced
same_on_ranks lbfgs "${common[@]}" --solver lbfgs --max-iterations 15
same_on_ranks gradient-descent "${common[@]}" --epochs 5 --batch-size 5000 --lr 0.5
same_on_ranks squared "${common[@]}" --loss squared --epochs 2 --batch-size 50 --lr 0.05
same_on_ranks sigmoid --train multi.h5 --reproducible --loss sigmoid --epochs 2 --batch-size 30
# Sparse (CSR) features take the same exact steps (not the lazy-decay sparse steps).
"$shardmax" gen --output sparse.h5 --rows 1200 --features 4000 --classes 6 --sparse \
  --row-nonzeros 20 > /dev/null || exit 1
same_on_ranks sparse-sgd --train sparse.h5 --reproducible --epochs 2 --batch-size 60 --lr 0.5
same_on_ranks sparse-lbfgs --train sparse.h5 --reproducible --solver lbfgs --max-iterations 10

# The comparison can fail: without --reproducible the sums, and so the weights, depend on the
# rank count.
mpi 1 train --train train.h5 --epochs 3 --batch-size 100 --lr 0.1 --checkpoint-dir default-1
mpi 3 train --train train.h5 --epochs 3 --batch-size 100 --lr 0.1 --checkpoint-dir default-3
checks=$((checks + 1))
if [ "$(arrays_checksum default-1/model.h5)" = "$(arrays_checksum default-3/model.h5)" ]; then
  fail "the default mode gave the same bits on 1 and 3 ranks: this test would not see a difference"
else
  echo "ok: the default mode differs between 1 and 3 ranks, as expected"
fi

# Elastic resume: stopped on 4 ranks mid-epoch, resumed on 2 (stopped again) and then on 1.
for solver in sgd lbfgs; do
  if [ "$solver" = sgd ]; then
    args=("${common[@]}" --epochs 3 --batch-size 100 --lr 0.1 --momentum 0.9
          --checkpoint-unit step --checkpoint-every 10)
    stops=(35 70)  # 30 steps per epoch: mid-epoch both times
  else
    args=("${common[@]}" --solver lbfgs --max-iterations 15)
    stops=(4 9)
  fi
  mpi 4 train "${args[@]}" --checkpoint-dir "straight-$solver"
  reference=$(arrays_checksum "straight-$solver/model.h5")
  grep '^final' out.txt > "final-$solver.txt"
  mpi 4 train "${args[@]}" --checkpoint-dir "elastic-$solver" --max-steps "${stops[0]}"
  check "$solver: stops at step ${stops[0]} on 4 ranks" grep -q "stopped at step ${stops[0]}" out.txt
  mpi 2 train "${args[@]}" --checkpoint-dir "elastic-$solver" --max-steps "${stops[1]}" --resume auto
  check "$solver: resumes on 2 ranks, bit for bit" grep -q "continues it bit for bit" out.txt
  check "$solver: stops at step ${stops[1]} on 2 ranks" grep -q "stopped at step ${stops[1]}" out.txt
  mpi 1 train "${args[@]}" --checkpoint-dir "elastic-$solver" --resume auto
  check "$solver: finishes on 1 rank" test "$status" = 0
  check "$solver: 4 -> 2 -> 1 ranks ends with the 4-rank run's weights" \
    test "$(arrays_checksum "elastic-$solver/model.h5")" = "$reference"
  check "$solver: and its final metrics" diff <(grep '^final' out.txt) "final-$solver.txt"
done

# Rank counts that do not divide the virtual shards, and too few rows, are refused clearly.
expect_error "5 ranks, 24 virtual shards" 5 2 \
  "--reproducible: 5 ranks do not divide the 24 virtual shards (--virtual-shards 24); run on 1, 2, 3, 4, 6, 8 ranks" \
  train --train train.h5 --reproducible --checkpoint-dir bad-ranks
expect_error "more ranks than --max-ranks" 4 2 \
  "--reproducible: 4 ranks are more than --max-ranks 2; run on 1, 2 ranks, or raise --max-ranks to 4" \
  train --train train.h5 --reproducible --max-ranks 2 --checkpoint-dir bad-max
expect_error "--max-ranks 0" 1 2 "--max-ranks must be at least 1 (got 0)" \
  train --train train.h5 --reproducible --max-ranks 0 --checkpoint-dir bad-max-zero
expect_error "more virtual shards than rows" 2 1 \
  "data file 'val.h5': has 701 rows, fewer than the 1000 virtual shards (--virtual-shards)" \
  train --train train.h5 --val val.h5 --reproducible --virtual-shards 1000 --checkpoint-dir bad-rows
expect_error "--virtual-shards 0" 1 2 "--virtual-shards must be from 1 to 4096 (got 0)" \
  train --train train.h5 --reproducible --virtual-shards 0 --checkpoint-dir bad-zero

# Resuming a reproducible checkpoint without --reproducible says it will not match.
mpi 2 train --train train.h5 --epochs 3 --batch-size 100 --checkpoint-dir mixed \
  --resume "straight-sgd/$(ls straight-sgd | grep '^ckpt-' | head -n 1)"
check "a reproducible checkpoint resumed in the default mode warns" \
  grep -q "ranks, --reproducible with 24 virtual shards up to 8 ranks, seed 42, batch size 100; this run continues with 2 ranks, seed" err.txt
# Another --max-ranks sums the virtual shards in other parts: the resume says it will not match.
mpi 2 train "${common[@]}" --epochs 3 --batch-size 100 --lr 0.1 --max-ranks 24 \
  --checkpoint-dir other-max --resume "straight-sgd/$(ls straight-sgd | grep '^ckpt-' | head -n 1)"
check "a reproducible checkpoint resumed with another --max-ranks warns" \
  grep -q "24 virtual shards up to 8 ranks, .*; this run continues with 2 ranks, --reproducible with 24 virtual shards up to 24 ranks" err.txt

finish
