# The bad-input matrix, end to end: each case must print one clear message naming the
# file, dataset, row or option, make every rank exit with the same non-zero status, and
# never hang or touch an existing checkpoint.
source "$(dirname "$0")/common.sh" "$@"

"$make_bad_inputs" "$work" || { echo "cannot make inputs"; exit 1; }
"$shardmax" gen --output good.h5 --rows 200 --features 4 --classes 3 > /dev/null || exit 1
"$shardmax" gen --output wider.h5 --rows 200 --features 5 --classes 3 > /dev/null || exit 1

expect_error "missing file" 2 1 "cannot open data file 'absent.h5'" train --train absent.h5
expect_error "missing dataset" 2 1 "data file 'good.h5': no dataset 'pixels'" \
  train --train good.h5 --features-dataset pixels
expect_error "features not 2-D" 2 1 "dataset 'features': must be 2-D" train --train features_1d.h5
expect_error "row counts differ" 2 1 "'features' has 9 rows but 'labels' has 8" \
  train --train row_mismatch.h5
expect_error "negative label" 2 1 "dataset 'labels': row 5 has label -1" \
  train --train negative_label.h5
expect_error "label >= K on the last rank" 4 1 "row 7 has label 9, not below the number of classes 3" \
  train --train large_label.h5 --classes 3 --batch-size 4
expect_error "NaN feature" 2 1 "'nan.h5', dataset 'features': row 6, column 1 is NaN" \
  train --train nan.h5
expect_error "Inf feature on the last rank" 4 1 "row 7, column 0 is infinite" \
  train --train inf.h5 --batch-size 4
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

finish
