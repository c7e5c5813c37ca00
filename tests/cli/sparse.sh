# Sparse (CSR) data end to end: gen --sparse and inspect; one LIBSVM file converted both dense
# and sparse trains to the same L-BFGS optimum and predicts the same CSV; evaluate and predict on
# sparse files; multi-label sparse data; and the refusals of the new options.
source "$(dirname "$0")/common.sh" "$@"

"$shardmax" gen --sparse --output text.h5 --val-output text-val.h5 --rows 3000 --val-rows 500 \
  --features 50000 --classes 5 --row-nonzeros 30 > /dev/null || exit 1
"$shardmax" gen --sparse --output small.h5 --rows 300 --features 5000 --classes 3 --row-nonzeros 20 \
  --libsvm-output small.svm > /dev/null || exit 1
mpi 1 convert --format libsvm --input small.svm --features 5000 --output small-converted.h5
check "the generator's LIBSVM text converts (auto: sparse)" grep -q "features (float32, sparse)" out.txt
"$shardmax" inspect small.h5 | grep -E '^  (sparse|feature values)' > small-inspect.txt
"$shardmax" inspect small-converted.h5 | grep -E '^  (sparse|feature values)' > converted-inspect.txt
check "it holds the generated values ($(head -1 small-inspect.txt | cut -c3-40))" \
  cmp -s small-inspect.txt converted-inspect.txt
"$shardmax" inspect text.h5 > inspect.txt
check "inspect reports the sparse layout" \
  grep -qE '^  sparse \(CSR\): 90000 stored values, 30.0 per row' inspect.txt
check "inspect lists the CSR arrays" grep -qE '^  /features/indptr +3001 +int64' inspect.txt

mpi 2 train --train text.h5 --val text-val.h5 --epochs 3 --batch-size 100 --lr 2 --weight-decay 0 \
  --checkpoint-dir sgd
check "SGD trains on sparse data" test "$status" = 0
accuracy=$(awk '/^final validation/ { sub("%", "", $8); print $8 }' out.txt)
check "SGD validation accuracy $accuracy% is above 80%" awk -v a="$accuracy" 'BEGIN { exit !(a > 80) }'
mpi 2 evaluate --model sgd/model.h5 --data text-val.h5
check "evaluate reads sparse data" test "$status" = 0
check "evaluate gives the trainer's accuracy" grep -qF "$accuracy%" out.txt
mpi 3 predict --model sgd/model.h5 --data text-val.h5 --output pred.csv
check "predict reads sparse data" test "$status" = 0
check "predict wrote a row per data row" test "$(wc -l < pred.csv)" = 501

"$shardmax" gen --sparse --multi-label --output labels.h5 --rows 2000 --features 20000 \
  --classes 4 --row-nonzeros 40 > /dev/null || exit 1
mpi 2 train --train labels.h5 --loss sigmoid --solver lbfgs --weight-decay 1e-4 --max-iterations 40 \
  --checkpoint-dir multi
check "multi-label sparse data trains with L-BFGS" test "$status" = 0

# The same LIBSVM rows stored dense and sparse: the same optimum, the same predictions.
awk 'BEGIN { for (i = 0; i < 400; ++i) { line = (i % 3) ""; for (j = 1; j <= 40; ++j)
               if ((i * 7 + j * 13) % 9 == 0) line = line " " j ":" ((i + j) % 5 + (j % 3 == i % 3)) / 4;
               print line } }' > rows.svm
mpi 1 convert --format libsvm --input rows.svm --layout dense --output rows-dense.h5
check "LIBSVM converts dense on request" test "$status" = 0
mpi 1 convert --format libsvm --input rows.svm --layout sparse --output rows-sparse.h5
check "LIBSVM converts sparse on request" grep -q "features (float32, sparse)" out.txt
for layout in dense sparse; do
  mpi 2 train --train "rows-$layout.h5" --solver lbfgs --weight-decay 1e-3 --checkpoint-dir "lbfgs-$layout"
  check "L-BFGS on the $layout file" test "$status" = 0
  awk '/^final train/ { print $4, $8 }' out.txt > "optimum-$layout.txt"
  mpi 2 predict --model "lbfgs-$layout/model.h5" --data "rows-$layout.h5" --output "pred-$layout.csv" \
    --probabilities
done
check "dense and sparse storage reach the same optimum ($(cat optimum-sparse.txt))" \
  cmp -s optimum-dense.txt optimum-sparse.txt
check "dense and sparse storage give the same predicted classes" \
  cmp -s <(cut -d, -f1-2 pred-dense.csv) <(cut -d, -f1-2 pred-sparse.csv)

expect_error "--row-nonzeros without --sparse" 1 2 "--row-nonzeros needs --sparse" \
  gen --output x.h5 --row-nonzeros 5
expect_error "--libsvm-output without --sparse" 1 2 "--libsvm-output needs --sparse" \
  gen --output x.h5 --libsvm-output x.svm
expect_error "--sparse with uint8" 1 2 "--sparse writes float32 values" \
  gen --output x.h5 --sparse --dtype uint8
expect_error "bad --layout" 1 2 "--layout must be auto, dense or sparse (got 'csr')" \
  convert --format libsvm --input rows.svm --layout csr --output x.h5
expect_error "--layout for CSV" 1 2 "--layout does not apply to --format csv" \
  convert --format csv --input rows.svm --layout sparse --output x.h5
expect_error "--standardize on sparse data" 2 1 "would make the sparse features of 'text.h5' dense" \
  train --train text.h5 --standardize --checkpoint-dir standardize
finish
