# The command line end to end: help, config file precedence, data types, full batch, K = 2.
source "$(dirname "$0")/common.sh" "$@"

check "help lists options" bash -c '"$0" train --help | grep -q -- "--checkpoint-every"' "$shardmax"
check "top-level help" bash -c '"$0" --help | grep -q "commands:"' "$shardmax"

for dtype in float32 float64 uint8; do
  "$shardmax" gen --output "$dtype.h5" --val-output "val-$dtype.h5" --rows 3000 --features 8 \
    --classes 4 --separation 4 --dtype "$dtype" > /dev/null
  mpi 2 train --train "$dtype.h5" --val "val-$dtype.h5" --epochs 3 --lr 0.5 --checkpoint-dir "c-$dtype"
  check "$dtype trains" test "$status" = 0
  check "$dtype reaches 95% validation accuracy" \
    awk '/^final validation/ { sub("%", "", $8); exit !($8 >= 95) }' out.txt
  check "$dtype prints where the checkpoint went" grep -q "^checkpoint: c-$dtype/ckpt-" out.txt
  check "$dtype prints where the model went" grep -q "^model: c-$dtype/model.h5" out.txt
  check "$dtype logs 3 epochs to the metrics CSV" test "$(wc -l < "c-$dtype/metrics.csv")" = 4
done

# The metrics CSV plots to a PNG.
plot_script="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../launch" && pwd)/plot_metrics.sh"
bash "$plot_script" c-float32/metrics.csv curves.png > /dev/null
check "metrics plot is a PNG" test "$(head -c 4 curves.png | tail -c 3)" = "PNG"

# Config file: values apply, the command line wins.
cat > run.ini <<INI
train = float32.h5
epochs = 2
lr = 0.3
checkpoint-dir = from-config
INI
mpi 2 train --config run.ini --epochs 1
check "config file run succeeds" test "$status" = 0
check "command line overrides the config file" grep -q "^epoch 1/1 " out.txt
check "config file values are used" test -d from-config

# Full batch: B >= N gives one step per epoch.
mpi 2 train --train float32.h5 --batch-size 100000 --epochs 3 --lr 1 --checkpoint-dir full
check "full batch runs one step per epoch" grep -q "^epoch 3/3  step 3 " out.txt

# K = 2: binary logistic regression through the same program.
"$shardmax" gen --output binary.h5 --rows 2000 --features 5 --classes 2 --separation 4 > /dev/null
mpi 4 train --train binary.h5 --epochs 2 --checkpoint-dir binary
check "two classes train on 4 ranks" grep -q "2 classes, 4 ranks" out.txt

finish
