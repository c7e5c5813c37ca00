# --stream and --memory-budget end to end: L-BFGS and Newton-CG trained streamed write the
# very model the in-memory run writes, evaluate and predict give the same outputs streamed, a shard over the
# budget streams on its own, streamed SGD resumes exactly, rows off their cache lines are
# named in the log, and what cannot stream, or a bad row in a late chunk, stops every rank with
# one clear message.
source "$(dirname "$0")/common.sh" "$@"

# 40000 rows x 96 uint8 features: 1.9 MiB per rank of 2 in memory (held as uint8, with labels).
"$shardmax" gen --output train.h5 --rows 40000 --features 96 --classes 5 --dtype uint8 \
  --separation 1 > /dev/null || exit 1
"$shardmax" gen --output bad.h5 --rows 40000 --features 96 --classes 5 > /dev/null || exit 1
"$make_bad_inputs" set-value bad.h5 features 39997 nan || exit 1

lbfgs=(train --train train.h5 --solver lbfgs --max-iterations 4 --progress-every 0)
mpi 2 "${lbfgs[@]}" --checkpoint-dir memory --model memory.h5
check "L-BFGS in memory succeeds" test "$status" = 0
cp out.txt memory-out.txt
mpi 2 "${lbfgs[@]}" --checkpoint-dir streamed --model streamed.h5 --stream --stream-chunk-rows 3072
check "L-BFGS streamed succeeds" test "$status" = 0
check "the log says it streams" grep -q "streaming data file 'train.h5' (--stream): chunks of 3072 rows" out.txt
cp out.txt streamed-out.txt
check "the same iterations" diff <(grep -o 'objective [0-9.]*' streamed-out.txt) \
  <(grep -o 'objective [0-9.]*' memory-out.txt)
check "four iterations logged" test "$(grep -c '^iteration ' memory-out.txt)" = 4
# Ranks on one CPU (their launcher under taskset) read each chunk when the pass reaches it.
printf '#!/bin/sh\nexec taskset -c 0 "%s" "$@"\n' "$mpiexec" > one-cpu-mpiexec
chmod +x one-cpu-mpiexec
mpiexec=./one-cpu-mpiexec mpi 2 "${lbfgs[@]}" --checkpoint-dir one-cpu --model one-cpu.h5 \
  --stream --stream-chunk-rows 3072
check "L-BFGS streamed on one CPU succeeds" test "$status" = 0
check "the log says each chunk is read when reached" \
  grep -q "streaming on this rank's one CPU (mpirun binds a rank to a core unless told otherwise): each chunk is read when the pass reaches it" out.txt
check "read in turn: the same iterations" diff <(grep -o 'objective [0-9.]*' out.txt) \
  <(grep -o 'objective [0-9.]*' memory-out.txt)
mpi 2 "${lbfgs[@]}" --checkpoint-dir in-turn --model in-turn.h5 --stream --stream-read-ahead off
check "--stream-read-ahead off writes the in-memory model" h5diff memory.h5 in-turn.h5 /model
check "--stream-read-ahead off says nothing of CPUs" bash -c '! grep -q "one CPU" out.txt'
# Whole passes over rows read in place take chunks whose two fit 16 MiB (116 bytes a row as streamed).
check "L-BFGS read in place takes 16 MiB chunks" \
  grep -q "streaming data file 'train.h5' (--stream): chunks of 71680 rows" out.txt
check "the log says the features are read in place" \
  grep -q "streaming reads the features in place, through a read-only memory map of the file" \
  streamed-out.txt
mpi 2 "${lbfgs[@]}" --checkpoint-dir copied --model copied.h5 --stream --stream-mmap off
check "--stream-mmap off writes the in-memory model" h5diff memory.h5 copied.h5 /model
check "--stream-mmap off says the features are copied" \
  grep -q "streaming copies the features through HDF5 (--stream-mmap off)" out.txt
check "copied rows keep chunks whose two fit 4 MiB" \
  grep -q "streaming data file 'train.h5' (--stream): chunks of 17408 rows" out.txt
# A compressed file cannot be read in place: copied through HDF5, and the same model.
h5repack -f features:GZIP=4 train.h5 gzip.h5 || exit 1
mpi 2 train --train gzip.h5 --solver lbfgs --max-iterations 4 --progress-every 0 \
  --checkpoint-dir gzip --model gzip.h5-model.h5 --stream --stream-chunk-rows 3072
check "a compressed file streamed writes the in-memory model" \
  h5diff memory.h5 gzip.h5-model.h5 /model
check "the log says why a compressed file is copied" \
  grep -q "streaming copies the features through HDF5, as they cannot be read in place: it is compressed or filtered" out.txt
# Rows of a whole number of cache lines (32 float32): on lines in a file shardmax writes, off
# them in HDF5's packed layout (h5repack's default), which the log names with its remedy.
"$shardmax" gen --output wide.h5 --rows 6000 --features 32 --classes 3 --separation 1 \
  > /dev/null || exit 1
h5repack wide.h5 packed.h5 || exit 1
wide=(train --solver lbfgs --max-iterations 1 --progress-every 0 --stream)
mpi 2 "${wide[@]}" --train wide.h5 --checkpoint-dir wide
check "a generated file's rows are read in place on their lines" \
  bash -c 'grep -q "streaming reads the features in place" out.txt && ! grep -q "cache line" out.txt'
mpi 2 "${wide[@]}" --train packed.h5 --checkpoint-dir packed
check "rows off their lines are named, with h5repack -a" \
  grep -q "the rows of 'packed.h5' start [0-9]* bytes past a 64-byte cache line: .*h5repack -t 65536 -a 4096" out.txt
expect_error "a bad --stream-mmap" 1 2 "--stream-mmap must be 'on' or 'off' (got 'maybe')" \
  train --train train.h5 --stream --stream-mmap maybe --checkpoint-dir bad-map
expect_error "a bad --stream-read-ahead" 1 2 \
  "--stream-read-ahead must be 'auto', 'on' or 'off' (got 'sometimes')" \
  train --train train.h5 --stream --stream-read-ahead sometimes --checkpoint-dir bad-mode
mpi 2 "${lbfgs[@]}" --checkpoint-dir budget --model budget.h5 --memory-budget 1
check "L-BFGS over --memory-budget succeeds" test "$status" = 0
check "the log says the budget streams it" \
  grep -q "streaming data file 'train.h5' (its shard needs 1.9 MiB per rank in memory, over --memory-budget 1): chunks of" out.txt

newton=(train --train train.h5 --solver newton --max-iterations 3 --progress-every 0)
mpi 2 "${newton[@]}" --checkpoint-dir newton-memory --model newton-memory.h5
mpi 2 "${newton[@]}" --checkpoint-dir newton-streamed --model newton-streamed.h5 --stream \
  --stream-chunk-rows 3072
check "Newton-CG streamed writes the in-memory model" \
  h5diff newton-memory.h5 newton-streamed.h5 /model/weights

for model in streamed budget; do
  mpi 1 evaluate --model "$model.h5" --data train.h5 --json "$model.json"
done
mpi 1 evaluate --model memory.h5 --data train.h5 --json memory.json
check "evaluate in memory succeeds" test "$status" = 0
mpi 2 evaluate --model memory.h5 --data train.h5 --json memory-2.json
mpi 2 evaluate --model memory.h5 --data train.h5 --json memory-streamed-2.json --stream \
  --stream-chunk-rows 1024
check "evaluate streamed succeeds" test "$status" = 0
without_paths() { grep -v '"model"\|"data"' "$1"; }
check "evaluate streamed writes the in-memory JSON (2 ranks)" \
  diff <(without_paths memory-streamed-2.json) <(without_paths memory-2.json)
check "the streamed model is the in-memory model (same evaluation)" \
  diff <(without_paths streamed.json) <(without_paths memory.json)
check "the budget's model is the in-memory model (same evaluation)" \
  diff <(without_paths budget.json) <(without_paths memory.json)
check "JSON accuracy is there" grep -q '"accuracy"' memory.json

mpi 2 predict --model memory.h5 --data train.h5 --output memory.csv --probabilities
mpi 2 predict --model memory.h5 --data train.h5 --output streamed.csv --probabilities --stream
check "predict streamed succeeds" test "$status" = 0
check "predict streamed writes the same CSV" cmp memory.csv streamed.csv
check "predict reads in whole passes: 16 MiB chunks (no labels: 104 bytes a row)" \
  grep -q "streaming data file 'train.h5' (--stream): chunks of 79872 rows" out.txt
# SGD's batch order depends on the chunk size: it keeps the 4 MiB chunks.
mpi 2 train --train train.h5 --max-steps 1 --progress-every 0 --stream --checkpoint-dir sgd-chunks
check "SGD streamed keeps 4 MiB chunks" \
  grep -q "streaming data file 'train.h5' (--stream): chunks of 17408 rows" out.txt

# SGD streamed: the same bits from run to run, and after a stop and --resume auto.
sgd=(train --train train.h5 --epochs 2 --batch-size 100 --progress-every 0 --stream
     --stream-chunk-rows 2048)
mpi 2 "${sgd[@]}" --checkpoint-dir sgd --model sgd.h5
check "SGD streamed succeeds" test "$status" = 0
mpi 2 "${sgd[@]}" --checkpoint-dir sgd-stopped --model sgd-stopped.h5 --max-steps 250
check "SGD streamed stops at --max-steps" test "$status" = 0
mpi 2 "${sgd[@]}" --checkpoint-dir sgd-stopped --model sgd-stopped.h5 --resume auto
check "SGD streamed resumes" test "$status" = 0
check "the resumed SGD model is the uninterrupted one" h5diff -d 0 sgd.h5 sgd-stopped.h5 /model
check "the checkpoint records the chunk size of the batch order" \
  h5dump -a /stream_chunk_rows sgd-stopped/ckpt-000000250.h5 2> /dev/null | grep -q "(0): 2048"
mpi 2 "${sgd[@]:0:${#sgd[@]}-2}" --stream-chunk-rows 4096 --checkpoint-dir sgd-stopped \
  --model sgd-rechunked.h5 --max-steps 300 --resume sgd-stopped/ckpt-000000250.h5
check "a resume with another chunk size warns that the order changes" \
  grep -q "written with streamed batches shuffled within chunks of 2048 rows; this run continues with streamed batches shuffled within chunks of 4096 rows" err.txt

expect_error "--stream with --standardize" 2 2 "--stream: --standardize" \
  train --train train.h5 --stream --standardize --checkpoint-dir standardize
expect_error "--standardize over --memory-budget" 2 1 \
  "--memory-budget 1 streams 'train.h5', but --standardize rescales" \
  train --train train.h5 --standardize --memory-budget 1 --checkpoint-dir standardize-budget
expect_error "a step's share longer than a chunk" 2 1 "must fit in one streamed chunk of 1024 rows" \
  train --train train.h5 --batch-size 40000 --stream --stream-chunk-rows 1024 --checkpoint-dir gd
expect_error "NaN in a late chunk, training" 2 1 \
  "data file 'bad.h5', dataset 'features': row 39997, column 95 is NaN" \
  train --train bad.h5 --solver lbfgs --stream --stream-chunk-rows 2048 --checkpoint-dir bad
expect_error "NaN in a late chunk, evaluate" 4 1 "row 39997, column 95 is NaN" \
  evaluate --model memory.h5 --data bad.h5 --stream --stream-chunk-rows 1024
expect_error "NaN in a late chunk, predict" 2 1 "row 39997, column 95 is NaN" \
  predict --model memory.h5 --data bad.h5 --output bad.csv --stream

finish
