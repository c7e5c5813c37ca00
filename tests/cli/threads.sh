# --threads end to end: L-BFGS on 2 threads per rank writes the very model (arrays, metrics
# log, final metrics) that 1 thread writes, on 1 and 2 ranks, and so does Newton-CG; evaluate and predict write the
# same outputs on 1 and 3 threads; the option is read from a config file, and a count below 1
# stops every rank with one clear message.
source "$(dirname "$0")/common.sh" "$@"

# The raw bytes of the model's arrays, as one checksum.
arrays_checksum() {
  h5dump -b LE -o arrays.bin -d /model/weights -d /model/bias "$1" > /dev/null &&
    md5sum < arrays.bin | cut -d ' ' -f 1
}

# 12000 rows: 12 blocks of at most 1024 rows, the last one short (736 rows); on 2 ranks each
# rank's shard also starts or ends inside a block.
"$shardmax" gen --output train.h5 --val-output val.h5 --rows 12000 --val-rows 3000 \
  --features 16 --classes 4 --separation 1.5 > /dev/null || exit 1

lbfgs=(train --train train.h5 --val val.h5 --solver lbfgs --max-iterations 8 --progress-every 0)
for ranks in 1 2; do
  for threads in 1 2; do
    mpi "$ranks" "${lbfgs[@]}" --threads "$threads" --checkpoint-dir "run-$ranks-$threads"
    check "L-BFGS on $ranks ranks x $threads threads succeeds" test "$status" = 0
    cp out.txt "out-$ranks-$threads.txt"
  done
  check "the log names 2 threads per rank ($ranks ranks)" \
    grep -q "2 threads per rank for L-BFGS passes and evaluation, " "out-$ranks-2.txt"
  check "the log names no threads for 1 ($ranks ranks)" \
    bash -c "! grep -q 'threads per rank' out-$ranks-1.txt"
  check "2 threads write the 1-thread model's arrays ($ranks ranks)" \
    test "$(arrays_checksum "run-$ranks-2/model.h5")" = "$(arrays_checksum "run-$ranks-1/model.h5")"
  check "2 threads log the 1-thread losses ($ranks ranks)" \
    diff <(cut -d , -f 1-6 "run-$ranks-2/metrics.csv") <(cut -d , -f 1-6 "run-$ranks-1/metrics.csv")
  check "2 threads print the 1-thread iterations and final metrics ($ranks ranks)" \
    diff <(grep -o '^iteration.*val_acc [0-9.]*%\|^final.*' "out-$ranks-2.txt") \
      <(grep -o '^iteration.*val_acc [0-9.]*%\|^final.*' "out-$ranks-1.txt")
done

check "h5dump reads the model's arrays" test -n "$(arrays_checksum run-1-1/model.h5)"

newton=(train --train train.h5 --solver newton --max-iterations 4 --progress-every 0)
for threads in 1 2; do
  mpi 2 "${newton[@]}" --threads "$threads" --checkpoint-dir "newton-$threads"
done
check "Newton-CG on 2 threads writes the 1-thread model's arrays" \
  test "$(arrays_checksum newton-2/model.h5)" = "$(arrays_checksum newton-1/model.h5)"

without_paths() { grep -v '"model"\|"data"' "$1"; }
for threads in 1 3; do
  mpi 2 evaluate --model run-2-1/model.h5 --data val.h5 --json "eval-$threads.json" \
    --threads "$threads"
  check "evaluate on $threads threads succeeds" test "$status" = 0
  mpi 2 predict --model run-2-1/model.h5 --data train.h5 --output "pred-$threads.csv" \
    --probabilities --threads "$threads"
  check "predict on $threads threads succeeds" test "$status" = 0
done
check "evaluate writes the same JSON on 1 and 3 threads" \
  diff <(without_paths eval-3.json) <(without_paths eval-1.json)
check "predict writes the same CSV on 1 and 3 threads" cmp pred-1.csv pred-3.csv
check "predict wrote every row" test "$(($(wc -l < pred-3.csv) - 1))" = 12000

printf 'train = train.h5\nsolver = lbfgs\nmax-iterations = 2\nthreads = 2\n' > threads.ini
mpi 1 train --config threads.ini --checkpoint-dir from-config
check "--threads from a config file" grep -q "2 threads per rank" out.txt
mpi 1 train --train train.h5 --threads 2 --epochs 1 --checkpoint-dir sgd
check "the SGD log says its steps run on one thread" \
  grep -q "2 threads per rank for evaluation (SGD/AdamW steps on one), " out.txt

# A rank bound to one CPU (as mpirun binds each rank by default) is told its threads share it.
if command -v taskset > /dev/null; then
  taskset -c 0 "$shardmax" evaluate --model run-2-1/model.h5 --data val.h5 --threads 2 \
    > out.txt 2> err.txt
  check "evaluate bound to one CPU succeeds" test $? = 0
  check "a rank on one CPU is warned that its threads share it" \
    grep -q "warning: --threads 2, but a rank may run on only 1 CPU .*--map-by slot:PE=2" err.txt
fi

expect_error "train --threads 0" 2 2 "--threads must be from 1 to 1024 (got 0)" \
  train --train train.h5 --threads 0
expect_error "evaluate --threads -1" 2 2 "--threads must be from 1 to 1024 (got -1)" \
  evaluate --model run-2-1/model.h5 --data val.h5 --threads -1
expect_error "predict --threads 0" 1 2 "--threads must be from 1 to 1024 (got 0)" \
  predict --model run-2-1/model.h5 --data val.h5 --output p.csv --threads 0
printf 'train = train.h5\nthreads = 0\n' > zero.ini
expect_error "threads = 0 in a config file" 1 2 "--threads must be from 1 to 1024 (got 0)" \
  train --config zero.ini

finish
