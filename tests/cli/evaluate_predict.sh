# evaluate and predict end to end: a briefly trained checkpoint is evaluated (the JSON's accuracy
# must be the trainer's own final figure), predictions on 1 and 3 ranks must be identical in
# HDF5 and CSV, an existing output is never overwritten without --overwrite, and bad inputs
# stop every rank with one clear message.
source "$(dirname "$0")/common.sh" "$@"

json_value() {  # json_value KEY FILE: the value of a top-level "KEY": VALUE line
  sed -n "s/^  \"$1\": \\(.*\\),\$/\\1/p" "$2"
}

"$shardmax" gen --output train.h5 --val-output val.h5 --rows 3000 --val-rows 1001 --features 8 \
  --classes 7 --separation 2 > /dev/null || exit 1
"$shardmax" gen --output wide.h5 --rows 100 --features 9 --classes 7 > /dev/null || exit 1
"$shardmax" gen --output more_classes.h5 --rows 100 --features 8 --classes 9 > /dev/null || exit 1

mpi 2 train --train train.h5 --val val.h5 --epochs 2 --checkpoint-dir ck
check "training succeeds" test "$status" = 0
checkpoint=$(sed -n 's/^checkpoint: //p' out.txt)
check "training printed its checkpoint" test -f "$checkpoint"
# final validation: loss L  objective O  accuracy A%  (N rows)
trained_loss=$(awk '/^final validation/ { print $4 }' out.txt)
trained_accuracy=$(awk '/^final validation/ { sub("%", "", $8); print $8 }' out.txt)

# Evaluate on the trainer's 2 ranks: the same sums in the same order, so the same figures.
mpi 2 evaluate --model "$checkpoint" --data val.h5 --json eval-2.json
check "evaluate succeeds" test "$status" = 0
cp out.txt evaluate-out.txt
json_accuracy=$(awk -v a="$(json_value accuracy eval-2.json)" 'BEGIN { printf "%.2f", 100 * a }')
json_loss=$(awk -v l="$(json_value loss eval-2.json)" 'BEGIN { printf "%.6f", l }')
check "JSON accuracy $json_accuracy% is the trainer's final $trained_accuracy%" \
  test "$json_accuracy" = "$trained_accuracy"
check "JSON loss $json_loss is the trainer's final $trained_loss" test "$json_loss" = "$trained_loss"
check "terminal shows the accuracy" grep -q "^accuracy $trained_accuracy%  (" evaluate-out.txt
check "terminal shows top-5 for 7 classes" grep -q "^top-5 accuracy " evaluate-out.txt
check "terminal shows the per-class table" grep -q "^weighted avg " evaluate-out.txt
check "terminal shows the confusion matrix" grep -q "^confusion matrix (rows: true class" evaluate-out.txt
check "JSON has the confusion matrix" grep -q '"confusion_matrix": \[' eval-2.json

# Counts do not depend on the rank count; only the loss sum's last bits may.
for ranks in 1 3; do
  mpi "$ranks" evaluate --model "$checkpoint" --data val.h5 --json "eval-$ranks.json"
  check "evaluate on $ranks ranks succeeds" test "$status" = 0
  check "evaluate on $ranks ranks gives the 2-rank JSON (loss lines aside)" \
    diff <(grep -v '"loss"\|"objective"' "eval-$ranks.json") <(grep -v '"loss"\|"objective"' eval-2.json)
done

for ranks in 1 3; do
  mpi "$ranks" predict --model "$checkpoint" --data val.h5 --output "pred-$ranks.h5" --probabilities
  check "predict to HDF5 on $ranks ranks succeeds" test "$status" = 0
  mpi "$ranks" predict --model "$checkpoint" --data val.h5 --output "pred-$ranks.csv" --probabilities
  check "predict to CSV on $ranks ranks succeeds" test "$status" = 0
done
check "HDF5 predictions on 1 and 3 ranks are identical" h5diff pred-1.h5 pred-3.h5
check "CSV predictions on 1 and 3 ranks are identical" cmp pred-1.csv pred-3.csv
check "CSV has a header and one line per row" test "$(wc -l < pred-1.csv)" = 1002
check "CSV header" test "$(head -n 1 pred-1.csv)" = "row,predicted,p_0,p_1,p_2,p_3,p_4,p_5,p_6"
check "HDF5 holds predicted and probabilities" \
  bash -c 'h5dump -H pred-1.h5 | grep -q "DATASET \"probabilities\"" &&
           h5dump -H pred-1.h5 | grep -q "DATASET \"predicted\""'
# The predictions are the ones evaluate counted: rows predicted as each class, both ways.
counted_by_predict=$(tail -n +2 pred-3.csv | cut -d, -f2 | sort -n | uniq -c | awk '{ print $2, $1 }')
counted_by_evaluate=$(sed -n 's/.*"class": \([0-9]*\),.*"predicted": \([0-9]*\)}.*/\1 \2/p' eval-2.json)
check "predict's class counts are evaluate's" test "$counted_by_predict" = "$counted_by_evaluate"

# An existing output is refused, before any work, and left as it was.
before=$(md5sum pred-1.h5 pred-1.csv)
expect_error "existing HDF5 output" 2 1 \
  "output file 'pred-1.h5' (--output) already exists; pass --overwrite to replace it" \
  predict --model "$checkpoint" --data val.h5 --output pred-1.h5
expect_error "existing CSV output" 3 1 "output file 'pred-1.csv' (--output) already exists" \
  predict --model "$checkpoint" --data val.h5 --output pred-1.csv --probabilities
check "refused outputs are unchanged" test "$before" = "$(md5sum pred-1.h5 pred-1.csv)"
mpi 2 predict --model "$checkpoint" --data val.h5 --output pred-1.csv --overwrite
check "--overwrite replaces the output" test "$(head -n 1 pred-1.csv)" = "row,predicted"
check "no temporary file is left behind" bash -c '! ls -A | grep -q "\.tmp$"'

expect_error "evaluate: missing model" 2 1 "model 'absent.h5': no such file" \
  evaluate --model absent.h5 --data val.h5
expect_error "predict: missing model" 3 1 "model 'absent.h5': no such file" \
  predict --model absent.h5 --data val.h5 --output never.h5
expect_error "evaluate: missing data" 2 1 "cannot open data file 'absent.h5'" \
  evaluate --model "$checkpoint" --data absent.h5
expect_error "evaluate: feature count differs" 2 1 \
  "data file 'wide.h5' has 9 features but model '$checkpoint' expects 8" \
  evaluate --model "$checkpoint" --data wide.h5
expect_error "predict: feature count differs" 3 1 \
  "data file 'wide.h5' has 9 features but model '$checkpoint' expects 8" \
  predict --model "$checkpoint" --data wide.h5 --output never.csv
expect_error "evaluate: label >= K" 3 1 \
  "not below the number of classes 7 (model '$checkpoint')" \
  evaluate --model "$checkpoint" --data more_classes.h5
expect_error "evaluate: --model missing" 2 2 "--model is required" evaluate --data val.h5
expect_error "predict: --output missing" 2 2 "--output is required" \
  predict --model "$checkpoint" --data val.h5
expect_error "evaluate: --top-k above K" 2 2 "--top-k 8 is more than the 7 classes" \
  evaluate --model "$checkpoint" --data val.h5 --top-k 8
expect_error "predict: unknown format" 2 2 "--format must be 'hdf5' or 'csv' (got 'xml')" \
  predict --model "$checkpoint" --data val.h5 --output x.xml --format xml
expect_error "evaluate: JSON directory missing" 2 1 "cannot write 'no/e.json' (--json): no directory 'no'" \
  evaluate --model "$checkpoint" --data val.h5 --json no/e.json
check "failed runs wrote no output" bash -c '! ls never.* x.xml > /dev/null 2>&1'
check "top-level help lists evaluate and predict" \
  bash -c '"$0" --help | grep -q "^  evaluate" && "$0" --help | grep -q "^  predict"' "$shardmax"

finish
