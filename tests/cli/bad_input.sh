# The bad-input matrix, end to end: each case must print one clear message naming the
# file, dataset, row or option, make every rank exit with the same non-zero status, and
# never hang or touch an existing checkpoint.
source "$(dirname "$0")/common.sh" "$@"

"$make_bad_inputs" "$work" || { echo "cannot make inputs"; exit 1; }
"$shardmax" gen --output good.h5 --rows 200 --features 4 --classes 3 > /dev/null || exit 1
"$shardmax" gen --output wider.h5 --rows 200 --features 5 --classes 3 > /dev/null || exit 1

expect_error "missing file" 2 1 "cannot open data file 'absent.h5': no such file" \
  train --train absent.h5
# Root reads files of mode 000, so unreadable inputs are a directory and a FIFO (which would
# block a reader for ever) in place of the file.
mkdir dir.h5
expect_error "a directory, not a file" 2 1 "cannot open data file 'dir.h5': it is a directory" \
  train --train dir.h5
mkfifo fifo.h5
expect_error "a FIFO, not a file" 2 1 "cannot open data file 'fifo.h5': not a regular file" \
  train --train fifo.h5
printf 'label,x\n1,2\n' > not_hdf5.h5
expect_error "not an HDF5 file" 2 1 "cannot open HDF5 file 'not_hdf5.h5': file signature not found" \
  train --train not_hdf5.h5
expect_error "missing dataset" 2 1 "data file 'good.h5': no dataset 'pixels'" \
  train --train good.h5 --features-dataset pixels
expect_error "features 1-D" 2 1 "dataset 'features': must be 2-D (rows x features), found 1-D" \
  train --train features_1d.h5
expect_error "features 3-D" 2 1 "dataset 'features': must be 2-D (rows x features), found 3-D" \
  train --train features_3d.h5
expect_error "labels 2-D" 2 1 "dataset 'labels': has 1 label columns, not the number of classes 2 (--classes)" \
  train --train labels_2d.h5
expect_error "integer features" 2 1 "dataset 'features': element type int32 is not supported" \
  train --train int_features.h5
expect_error "float labels" 2 1 "dataset 'labels': labels must be integers, found float64" \
  train --train float_labels.h5
expect_error "zero rows" 2 1 "'zero_rows.h5', dataset 'features': has 0 rows" \
  train --train zero_rows.h5
expect_error "zero features" 2 1 "'zero_features.h5', dataset 'features': has 0 features" \
  train --train zero_features.h5
expect_error "row counts differ" 2 1 "'features' has 9 rows but 'labels' has 8" \
  train --train row_mismatch.h5
expect_error "negative label" 2 1 "dataset 'labels': row 5 has label -1" \
  train --train negative_label.h5
expect_error "label >= K on the last rank" 4 1 "row 7 has label 9, not below the number of classes 3" \
  train --train large_label.h5 --classes 3 --batch-size 4
expect_error "label >= K on rank 0" 4 1 "row 0 has label 5, not below the number of classes 3" \
  train --train large_label_first.h5 --classes 3 --batch-size 4
expect_error "NaN feature" 2 1 "'nan.h5', dataset 'features': row 6, column 1 is NaN" \
  train --train nan.h5
expect_error "Inf feature on the last rank" 4 1 "row 7, column 0 is infinite" \
  train --train inf.h5 --batch-size 4
expect_error "sparse: column beyond D on the last rank" 4 1 "'sparse_column_range.h5', sparse features 'features', dataset 'indices': row 7 has column 3, outside 0..D-1 (D = 3)" \
  train --train sparse_column_range.h5 --batch-size 4
expect_error "sparse: columns out of order" 2 1 "dataset 'indices': row 5 has column 0 after column 2; columns must increase strictly within a row" \
  train --train sparse_unsorted.h5
expect_error "sparse: duplicate column" 2 1 "dataset 'indices': row 2 has column 0 after column 0 (a duplicate)" \
  train --train sparse_duplicate.h5
expect_error "sparse: indptr decreasing" 2 1 "dataset 'indptr': row 3 ends at 5 before it starts at 6; offsets must not decrease" \
  train --train sparse_indptr_decreasing.h5
expect_error "sparse: indptr not ending at nnz" 4 1 "dataset 'indptr': ends at 15, not at nnz = 16" \
  train --train sparse_indptr_end.h5 --batch-size 4
expect_error "sparse: NaN value" 2 1 "dataset 'data': row 6, column 1 is NaN" \
  train --train sparse_nan.h5
expect_error "sparse: no shape attribute" 2 1 "sparse features 'features': attribute 'shape' ([rows, features]) is missing" \
  train --train sparse_no_shape.h5
expect_error "sparse: --standardize" 2 1 "--standardize centers every feature, which would make the sparse features of 'sparse_good.h5' dense" \
  train --train sparse_good.h5 --standardize
expect_error "more ranks than rows" 4 1 "has 3 rows, fewer than the 4 ranks" \
  train --train three_rows.h5
expect_error "lr zero" 2 2 "--lr must be a positive number (got 0)" train --train good.h5 --lr 0
expect_error "lr negative" 2 2 "--lr must be a positive number (got -0.5)" \
  train --train good.h5 --lr -0.5
expect_error "batch size 0" 2 2 "--batch-size must be at least 1 (got 0)" \
  train --train good.h5 --batch-size 0
expect_error "batch below ranks" 4 2 "--batch-size 2 is smaller than the 4 ranks" \
  train --train good.h5 --batch-size 2
expect_error "unknown option" 2 2 "unrecognised option '--bogus'" train --train good.h5 --bogus 1
expect_error "option without its value" 2 2 "the required argument for option '--epochs' is missing" \
  train --train good.h5 --epochs
expect_error "option value not a number" 2 2 "the argument ('many') for option '--epochs' is invalid" \
  train --train good.h5 --epochs many
expect_error "negative weight decay" 2 2 "--weight-decay must be >= 0 (got -1)" \
  train --train good.h5 --weight-decay -1
expect_error "K < 2" 2 2 "--classes must be 0 (from the labels) or at least 2 (got 1)" \
  train --train good.h5 --classes 1

# Config files: a line without '=', a section header, an unknown name, a bad value, no file.
printf 'train = good.h5\nepochs\n' > no_equals.ini
expect_error "config line without =" 2 2 "config file 'no_equals.ini': the options configuration file contains an invalid line 'epochs'" \
  train --config no_equals.ini
printf '[train]\nepochs = 2\n' > section.ini
expect_error "config section header" 2 2 "config file 'section.ini': unrecognised option 'train.epochs'" \
  train --train good.h5 --config section.ini
printf 'epoch = 2\n' > unknown.ini
expect_error "config unknown name" 2 2 "config file 'unknown.ini': unrecognised option 'epoch'" \
  train --train good.h5 --config unknown.ini
printf 'epochs = many\n' > bad_value.ini
expect_error "config bad value" 2 2 "the argument ('many') for option 'epochs' is invalid" \
  train --train good.h5 --config bad_value.ini
printf 'epochs = %%value%%\n' > placeholder.ini
expect_error "config value holding %value%" 2 2 \
  "config file 'placeholder.ini': invalid option text 'epochs = %value%' (it holds '%value%'" \
  train --train good.h5 --config placeholder.ini
expect_error "config file missing" 2 2 "cannot read config file 'absent.ini' (--config)" \
  train --train good.h5 --config absent.ini
expect_error "validation width" 2 1 "validation file 'wider.h5' has 5 features" \
  train --train good.h5 --val wider.h5
expect_error "diverging lr" 2 1 "training diverged at epoch " \
  train --train good.h5 --lr 1e300 --checkpoint-dir diverged

# A checkpoint for other shapes is refused and left exactly as it was.
mpi 2 train --train good.h5 --epochs 1 --checkpoint-dir ckpt
checks=$((checks + 1))
if [ "$status" != 0 ]; then fail "training good.h5 failed"; cat err.txt; fi
before=$(cd ckpt && md5sum ckpt-*.h5)
expect_error "checkpoint of other shapes" 2 1 "was made for 200 rows x 4 features" \
  train --train wider.h5 --checkpoint-dir ckpt --resume auto
expect_error "checkpoint path missing" 2 1 "checkpoint 'ckpt/none.h5': no such file" \
  train --train good.h5 --checkpoint-dir ckpt --resume ckpt/none.h5
expect_error "fresh run into a used directory" 2 1 \
  "checkpoint directory 'ckpt' already holds checkpoints (newest 'ckpt/ckpt-000000001.h5')" \
  train --train good.h5 --checkpoint-dir ckpt
after=$(cd ckpt && md5sum ckpt-*.h5)
checks=$((checks + 1))
[ "$before" = "$after" ] || fail "the checkpoint directory changed: $before / $after"
ls -A ckpt | grep -q tmp && fail "a temporary file was left in ckpt"

# A checkpoint of format version 1 (no checksum header), given by name or found by auto.
mkdir old && mv ckpt-000000001.h5 old/
expect_error "checkpoint of format version 1" 2 1 \
  "checkpoint 'old/ckpt-000000001.h5': format version 1, this build reads version 2" \
  train --train good.h5 --checkpoint-dir old --resume old/ckpt-000000001.h5
expect_error "only a version 1 checkpoint, --resume auto" 2 1 "no checkpoint in 'old' verifies" \
  train --train good.h5 --checkpoint-dir old --resume auto
check "--resume auto names the checkpoint it skips" grep -q \
  "warning: --resume auto skips checkpoint 'old/ckpt-000000001.h5': format version 1" err.txt

# Outputs: one that exists is never replaced (by a fresh run, or without --overwrite), one
# that cannot be written is refused before any work.
echo "precious" > precious.h5
cp precious.h5 precious.csv
expect_error "--model exists" 2 1 \
  "output file 'precious.h5' (--model) already exists and a fresh run does not replace it" \
  train --train good.h5 --checkpoint-dir out1 --model precious.h5
expect_error "--metrics-log exists" 2 1 \
  "output file 'precious.csv' (--metrics-log) already exists and a fresh run does not replace it" \
  train --train good.h5 --checkpoint-dir out2 --metrics-log precious.csv
expect_error "--model in a missing directory" 2 1 \
  "cannot write output file 'nodir/model.h5' (--model): no directory 'nodir'" \
  train --train good.h5 --checkpoint-dir out3 --model nodir/model.h5
expect_error "--model is a directory" 2 1 "output file 'dir.h5' (--model) is a directory" \
  train --train good.h5 --checkpoint-dir out4 --model dir.h5
expect_error "--metrics-log in a missing directory" 2 1 \
  "cannot write output file 'nodir/m.csv' (--metrics-log): no directory 'nodir'" \
  train --train good.h5 --checkpoint-dir out5 --metrics-log nodir/m.csv
expect_error "--checkpoint-dir under a file" 2 1 "cannot create checkpoint directory 'precious.h5/c'" \
  train --train good.h5 --checkpoint-dir precious.h5/c
expect_error "predict --output exists" 2 1 \
  "output file 'precious.h5' (--output) already exists; pass --overwrite to replace it" \
  predict --model ckpt/model.h5 --data good.h5 --output precious.h5
expect_error "predict --output in a missing directory" 2 1 \
  "cannot write output file 'nodir/p.h5' (--output): no directory 'nodir'" \
  predict --model ckpt/model.h5 --data good.h5 --output nodir/p.h5
expect_error "convert --output exists" 2 1 "output file 'precious.csv' already exists; pass --overwrite" \
  convert --format csv --input precious.csv --output precious.csv
expect_error "convert --output in a missing directory" 2 1 "output file 'nodir/c.h5': directory 'nodir'" \
  convert --format csv --input precious.csv --output nodir/c.h5
check "no existing output was changed" test "$(cat precious.h5 precious.csv)" = "$(printf 'precious\nprecious')"
for dir in out1 out2 out3 out4 out5; do
  check "refused run $dir wrote no checkpoint" test -z "$(ls "$dir" 2> /dev/null | grep ckpt)"
done

# A damaged file that crashes HDF5 1.10 itself (SIGFPE inside H5Dopen2, a finding of
# fuzz_data): every rank dies of the signal at once, after a line naming the file.
cp "$(dirname "$0")/../io/data/fuzz_data_chunk_dimension_zero.h5" crashes_hdf5.h5
crash_status=136  # 128 + SIGFPE; under AddressSanitizer, which reports the signal: 1
[ -n "${ASAN_OPTIONS:-}" ] && crash_status=1
checks=$((checks + 1))
mpi 2 train --train crashes_hdf5.h5 --checkpoint-dir crash
if [ "$status" != "$crash_status" ]; then
  fail "a file that crashes HDF5: every rank should exit $crash_status, got '$status'"
  cat err.txt
elif [ "$seconds" -gt 10 ]; then
  fail "a file that crashes HDF5: the ranks took $seconds s to stop, more than 10 s"
# Not anchored: Open MPI's own signal report, written by the other rank at the same moment,
# can start the line ("[host:pid] shardmax: error: ...").
elif ! grep -Eq "shardmax: error( \(rank [0-9]+\))?: HDF5 crashed \(SIGFPE\) reading 'crashes_hdf5.h5': HDF5 1.10 crashes on some damaged files instead of reporting them" err.txt; then
  fail "a file that crashes HDF5: no line naming the file"
  cat err.txt
else
  echo "ok: a file that crashes HDF5: $(grep -Eo 'shardmax: error( \(rank [0-9]+\))?: HDF5.*' err.txt | head -n 1)"
fi

finish
