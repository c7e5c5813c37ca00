# The default job on the real Fashion-MNIST (Debian's dataset-fashion-mnist): convert,
# train with launch/fashion-mnist.ini on 2 ranks, and reach the published logistic-regression
# test accuracy of 84% (Xiao et al. 2017, Table 3: 84.2%). Skipped (status 77) without the
# package.
source "$(dirname "$0")/common.sh" "$@"

source_dir=/usr/share/datasets/fashion-mnist
if [ ! -r "$source_dir/train-images-idx3-ubyte.gz" ]; then
  echo "skipped: dataset-fashion-mnist is not installed ($source_dir)"
  exit 77
fi
config="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../launch" && pwd)/fashion-mnist.ini"

for split in train:train t10k:test; do
  "$shardmax" convert --format idx --images "$source_dir/${split%:*}-images-idx3-ubyte.gz" \
    --labels "$source_dir/${split%:*}-labels-idx1-ubyte.gz" --class-names fashion-mnist \
    --output "fashion-mnist-${split#*:}.h5" > /dev/null || exit 1
done

timeout 600 "$mpiexec" -n 2 --oversubscribe "$shardmax" train --config "$config" \
  --train fashion-mnist-train.h5 --val fashion-mnist-test.h5 --checkpoint-dir run > out.txt 2>&1
status=$?
checks=$((checks + 1))
[ "$status" -eq 0 ] || { fail "training failed with status $status"; cat out.txt; }
grep -E '^(epoch 30/|final|model)' out.txt
accuracy=$(awk '/^final validation/ { sub("%", "", $8); print $8 }' out.txt)
checks=$((checks + 1))
awk -v a="$accuracy" 'BEGIN { exit !(a >= 84.0) }' ||
  fail "test accuracy $accuracy% is below the published 84%"

timeout 120 "$mpiexec" -n 2 --oversubscribe "$shardmax" evaluate --model run/model.h5 \
  --data fashion-mnist-test.h5 > eval.txt 2>&1
cat eval.txt
checks=$((checks + 2))
grep -q "accuracy" eval.txt || { fail "evaluate printed no accuracy"; cat eval.txt; }
grep -q "Ankle boot" eval.txt || fail "evaluate does not name the classes"

finish
