# Losses, weighting, standardization, bias initialization and multi-label data end to end:
# every loss trains and its model evaluates and predicts, score-only models refuse
# probabilities, weighted and standardized runs train (and a standardized run resumes only
# standardized), multi-label data trains, evaluates and predicts, and every new option's bad
# values stop every rank with one message (exit 2 naming the option, or 1 naming the file,
# dataset and row).
source "$(dirname "$0")/common.sh" "$@"

json_value() {  # json_value KEY FILE: the value of a top-level "KEY": VALUE line
  sed -n "s/^  \"$1\": \\(.*\\),\$/\\1/p" "$2"
}
# final_accuracy: the validation accuracy the trainer printed (out.txt), in percent
final_accuracy() {
  awk '/^final validation/ { sub("%", "", $8); print $8 }' out.txt
}
# at_least A B: A >= B
at_least() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
# near A B TOLERANCE: |A - B| <= TOLERANCE
near() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; exit !(d <= t && -d <= t) }'; }

"$make_bad_inputs" "$work" || { echo "cannot make inputs"; exit 1; }
"$shardmax" gen --output train.h5 --val-output val.h5 --rows 3000 --val-rows 600 --features 8 \
  --classes 4 --separation 3 > /dev/null || exit 1
"$shardmax" gen --output ml.h5 --val-output ml-val.h5 --rows 3000 --val-rows 600 --features 12 \
  --classes 4 --separation 3 --multi-label > gen.txt || exit 1
"$shardmax" gen --output plain3.h5 --rows 40 --features 3 --classes 3 > /dev/null || exit 1
"$shardmax" gen --output single12.h5 --rows 40 --features 12 --classes 4 > /dev/null || exit 1

# --- every single-label loss: trains, records its loss, evaluates to the trainer's figures ---
for loss in softmax squared hinge; do
  mpi 2 train --train train.h5 --val val.h5 --epochs 3 --loss "$loss" --checkpoint-dir "c-$loss"
  check "--loss $loss trains" test "$status" = 0
  trained=$(final_accuracy)
  check "--loss $loss reaches 95% validation accuracy ($trained%)" at_least "$trained" 95
  check "--loss $loss is recorded in the model file" \
    bash -c "h5dump -a /loss c-$loss/model.h5 | grep -q '\"$loss\"'"
  mpi 3 evaluate --model "c-$loss/model.h5" --data val.h5 --json "e-$loss.json"
  check "--loss $loss: evaluate succeeds" test "$status" = 0
  evaluated=$(awk -v a="$(json_value accuracy "e-$loss.json")" 'BEGIN { printf "%.2f", 100 * a }')
  check "--loss $loss: evaluate's accuracy $evaluated% is the trainer's $trained%" \
    test "$evaluated" = "$trained"
  mpi 2 predict --model "c-$loss/model.h5" --data val.h5 --output "p-$loss.csv"
  check "--loss $loss: predict succeeds" test "$status" = 0
done
mpi 2 predict --model c-softmax/model.h5 --data val.h5 --output p-softmax-prob.csv --probabilities
check "softmax predicts probabilities" grep -q '^row,predicted,p_0,p_1,p_2,p_3$' p-softmax-prob.csv
expect_error "hinge refuses --probabilities" 2 2 \
  "--probabilities: model 'c-hinge/model.h5' was trained with loss 'hinge', whose scores are not" \
  predict --model c-hinge/model.h5 --data val.h5 --output never.csv --probabilities
expect_error "squared refuses --probabilities" 3 2 \
  "loss 'squared', whose scores are not probabilities" \
  predict --model c-squared/ckpt-000000036.h5 --data val.h5 --output never.h5 --probabilities
expect_error "unknown --loss" 2 2 \
  "--loss: unknown loss 'logistic' (known: softmax, squared, hinge, sigmoid)" \
  train --train train.h5 --loss logistic --checkpoint-dir never

# --- class and sample weights ---
mpi 2 train --train train.h5 --epochs 1 --class-weight balanced --checkpoint-dir c-balanced
check "--class-weight balanced trains" test "$status" = 0
check "--class-weight balanced prints the weights" grep -q '^class weights: ' out.txt
mpi 2 train --train train.h5 --epochs 1 --class-weight 1,2,0.5,1 --checkpoint-dir c-given
check "--class-weight w0,w1,... trains" test "$status" = 0
check "--class-weight prints the given weights" grep -q '^class weights: 1 2 0.5 1$' out.txt
expect_error "--class-weight of the wrong length" 2 2 \
  "--class-weight gives 2 weights, but there are 4 classes" \
  train --train train.h5 --class-weight 1,2 --checkpoint-dir never
for bad in heavy 1,-2,1,1 0,0,0,0 1,,1,1; do
  expect_error "--class-weight $bad" 2 2 \
    "--class-weight must be 'none', 'balanced' or comma-separated weights >= 0, not all 0 (got '$bad')" \
    train --train train.h5 --class-weight "$bad" --checkpoint-dir never
done
expect_error "--class-weight with the multi-label loss" 2 2 \
  "--class-weight needs a single-label loss" \
  train --train ml.h5 --loss sigmoid --class-weight balanced --checkpoint-dir never

# weighted.h5 has a dataset 'weights'; plain3.h5 (the same D) has none and validates unweighted.
mpi 3 train --train weighted.h5 --val plain3.h5 --sample-weights-dataset weights --epochs 2 \
  --batch-size 8 --checkpoint-dir c-weighted
check "--sample-weights-dataset trains (validation file without weights)" test "$status" = 0
expect_error "missing sample-weights dataset" 2 1 "data file 'weighted.h5': no dataset 'nope'" \
  train --train weighted.h5 --sample-weights-dataset nope --checkpoint-dir never
expect_error "negative sample weight" 2 1 \
  "data file 'negative_weight.h5', dataset 'weights': row 5 has weight -1; sample weights must be" \
  train --train negative_weight.h5 --sample-weights-dataset weights --batch-size 8 \
  --checkpoint-dir never
expect_error "2-D sample weights" 2 1 \
  "dataset 'features': must be 1-D (one weight per row), found 2-D" \
  train --train weighted.h5 --sample-weights-dataset features --checkpoint-dir never

# --- standardization and bias initialization ---
mpi 2 train --train train.h5 --val val.h5 --epochs 2 --standardize --init-bias priors \
  --checkpoint-dir c-std --max-steps 12
check "--standardize --init-bias priors trains (stopped at step 12)" test "$status" = 0
expect_error "resuming a standardized run without --standardize" 2 1 \
  "checkpoint 'c-std/ckpt-000000012.h5' was trained with --standardize; resume it with" \
  train --train train.h5 --val val.h5 --epochs 2 --checkpoint-dir c-std --resume auto
printf 'train = train.h5\nval = val.h5\nepochs = 2\nstandardize = true\ninit-bias = priors\n' > std.ini
mpi 2 train --config std.ini --checkpoint-dir c-std --resume auto
check "the standardized run resumes (config file: standardize = true)" test "$status" = 0
trained=$(final_accuracy)
check "the model file holds /standardization" \
  bash -c 'h5dump -H c-std/model.h5 | grep -q "DATASET \"scale\""'
mpi 3 evaluate --model c-std/model.h5 --data val.h5 --json e-std.json
evaluated=$(awk -v a="$(json_value accuracy e-std.json)" 'BEGIN { printf "%.2f", 100 * a }')
# The trainer scored float32 standardized features, evaluate the raw ones: a row on the
# boundary may tip, nothing more.
check "evaluate on raw features: $evaluated% against the trainer's $trained%" \
  near "$evaluated" "$trained" 0.34
expect_error "--init-bias unknown" 2 2 "--init-bias must be 'zero' or 'priors' (got 'mean')" \
  train --train train.h5 --init-bias mean --checkpoint-dir never
expect_error "--init-bias priors with hinge" 2 2 \
  "--init-bias priors needs --loss softmax (got 'hinge')" \
  train --train train.h5 --init-bias priors --loss hinge --checkpoint-dir never
expect_error "--init-bias priors with an empty class" 2 1 \
  "--init-bias priors: class 4 has no rows in 'train.h5', so its log prior is -infinity" \
  train --train train.h5 --init-bias priors --classes 5 --checkpoint-dir never

# --- multi-label ---
check "gen --multi-label says so" grep -q "4 labels (multi-label)" gen.txt
check "inspect shows the label columns" \
  bash -c '"$0" inspect ml.h5 | grep -q "labels K: 4 (multi-label"' "$shardmax"
mpi 2 train --train ml.h5 --val ml-val.h5 --loss sigmoid --epochs 4 --momentum 0.9 \
  --checkpoint-dir c-ml
check "--loss sigmoid trains on N x K labels" test "$status" = 0
check "training says multi-label" grep -q "4 labels (multi-label), 2 ranks" out.txt
trained=$(final_accuracy)
# All 4 labels right by chance: 1 row in 16.
check "subset accuracy reaches 70% ($trained%)" at_least "$trained" 70
mpi 3 evaluate --model c-ml/model.h5 --data ml-val.h5 --json e-ml.json
cp out.txt e-ml.txt
check "multi-label evaluate succeeds" test "$status" = 0
evaluated=$(awk -v a="$(json_value subset_accuracy e-ml.json)" 'BEGIN { printf "%.2f", 100 * a }')
check "evaluate's subset accuracy $evaluated% is the trainer's $trained%" \
  test "$evaluated" = "$trained"
check "terminal shows subset accuracy, Hamming loss and averages" \
  bash -c 'grep -q "^subset accuracy " e-ml.txt && grep -q "^hamming loss " e-ml.txt &&
           grep -q "^micro avg " e-ml.txt && grep -q "^macro avg " e-ml.txt'
check "JSON is marked multi-label, per label" \
  bash -c 'grep -q "\"multi_label\": true" e-ml.json && grep -q "\"per_label\": \[" e-ml.json'
mpi 2 evaluate --model c-ml/model.h5 --data ml-val.h5 --threshold 0.7 --json e-ml-07.json
check "--threshold 0.7 is used" test "$(json_value threshold e-ml-07.json)" = 0.7
for ranks in 1 3; do
  mpi "$ranks" predict --model c-ml/model.h5 --data ml-val.h5 --output "p-ml-$ranks.csv" \
    --probabilities
  check "multi-label predict on $ranks ranks succeeds" test "$status" = 0
done
check "multi-label predictions on 1 and 3 ranks are identical" cmp p-ml-1.csv p-ml-3.csv
check "multi-label CSV header" \
  test "$(head -n 1 p-ml-1.csv)" = \
  "row,predicted_0,predicted_1,predicted_2,predicted_3,p_0,p_1,p_2,p_3"
predicted_by_predict=$(tail -n +2 p-ml-1.csv | awk -F, '{ for (k = 0; k < 4; ++k) n[k] += $(k + 2) }
  END { for (k = 0; k < 4; ++k) print k, n[k] }')
predicted_by_evaluate=$(sed -n 's/.*"label": \([0-9]*\),.*"predicted": \([0-9]*\)}.*/\1 \2/p' e-ml.json)
check "predict's label decisions are evaluate's" \
  test "$predicted_by_predict" = "$predicted_by_evaluate"
mpi 2 predict --model c-ml/model.h5 --data ml-val.h5 --output p-ml.h5
check "multi-label HDF5 predictions are N x K" \
  bash -c 'h5dump -H p-ml.h5 | grep -A3 "DATASET \"predicted\"" | grep -q "( 600, 4 )"'
expect_error "--threshold out of range" 2 2 "--threshold must be in (0, 1) (got 1.5)" \
  evaluate --model c-ml/model.h5 --data ml-val.h5 --threshold 1.5
expect_error "--threshold for a single-label model" 2 2 \
  "--threshold applies to multi-label models; model 'c-softmax/model.h5' was trained with loss" \
  predict --model c-softmax/model.h5 --data val.h5 --output never.csv --threshold 0.3
expect_error "--top-k for a multi-label model" 2 2 "--top-k applies to single-label models" \
  evaluate --model c-ml/model.h5 --data ml-val.h5 --top-k 2
expect_error "sigmoid on 1-D labels" 2 1 \
  "data file 'train.h5', dataset 'labels': holds 1-D class labels, but loss 'sigmoid' (--loss)" \
  train --train train.h5 --loss sigmoid --checkpoint-dir never
expect_error "softmax on N x K labels" 2 1 \
  "data file 'ml.h5', dataset 'labels': holds 2-D multi-label targets (4 columns), but loss 'softmax'" \
  train --train ml.h5 --checkpoint-dir never
expect_error "multi-label model on 1-D labels" 3 1 \
  "'single12.h5', dataset 'labels': holds 1-D class labels, but loss 'sigmoid' (model 'c-ml/model.h5')" \
  evaluate --model c-ml/model.h5 --data single12.h5
expect_error "a target that is not 0 or 1" 2 1 \
  "data file 'bad_targets.h5', dataset 'labels': row 3, column 2 is 0.5; multi-label targets must" \
  train --train bad_targets.h5 --loss sigmoid --batch-size 4 --checkpoint-dir never
check "failed runs wrote no output and no checkpoint" \
  bash -c '! ls never.* never/ckpt-* > /dev/null 2>&1'

finish
