# convert and inspect end to end: the real Fashion-MNIST test set when it is installed (Debian
# package dataset-fashion-mnist), small text files always, and bad inputs under mpirun -np 2.
source "$(dirname "$0")/common.sh" "$@"

# expect_convert_error NAME STATUS MESSAGE ARGS...: expect_error on 2 ranks, and no output
# file (bad.h5 or its temporary) may be left behind.
expect_convert_error() {
  local name=$1 expected_status=$2 message=$3
  shift 3
  expect_error "$name" 2 "$expected_status" "$message" "$@"
  if ls -A | grep -q '^\.bad\.h5\.tmp$\|^bad\.h5$'; then
    fail "$name: an output file was left behind"
  fi
}

fashion=/usr/share/datasets/fashion-mnist
if [ -d "$fashion" ]; then
  mpi 2 convert --format idx --images "$fashion/t10k-images-idx3-ubyte.gz" \
    --labels "$fashion/t10k-labels-idx1-ubyte.gz" --class-names fashion-mnist \
    --compression shuffle-gzip --output fashion.h5
  check "Fashion-MNIST t10k converts on 2 ranks" test "$status" = 0
  check "convert reports what it wrote" \
    grep -q "^wrote 10000 rows x 784 features (uint8), 10 classes from " out.txt
  "$shardmax" inspect fashion.h5 > inspect.txt 2>&1
  check "inspect succeeds" test $? = 0
  check "inspect shows N" grep -q "^  rows N: 10000$" inspect.txt
  check "inspect shows D and the type" grep -q "^  features D: 784, stored as uint8" inspect.txt
  check "inspect shows 10 classes" grep -q "^  classes K: 10 (labels 0..9)$" inspect.txt
  check "inspect shows 1000 rows in each class" \
    test "$(grep -cE '^ +[0-9] +1000 +[A-Z]' inspect.txt)" = 10
  check "inspect names class 9" grep -qE '^ +9 +1000 +Ankle boot$' inspect.txt
  check "inspect shows the compression" \
    grep -qE '^  /features +10000 x 784 +uint8 +chunks 8192 x 784, shuffle, gzip level 4$' inspect.txt
  mpi 2 train --train fashion.h5 --epochs 1 --batch-size 1000 --lr 0.5 --checkpoint-dir ckpt
  check "the converted file trains" test "$status" = 0
else
  echo "skipped: dataset-fashion-mnist not installed ($fashion missing); converting small files only"
fi

# LIBSVM: labels -1/+1 become classes 0/1, stored as label_values.
printf -- '-1 1:0.5 3:2\n+1 2:1.5\n-1 3:4 # comment\n+1 1:1\n' > small.svm
mpi 2 convert --format libsvm --input small.svm --output small.h5
check "LIBSVM converts" test "$status" = 0
check "LIBSVM labels are mapped" grep -q "2 classes (label values -1, 1 as classes 0..1)" out.txt
"$shardmax" inspect small.h5 > inspect.txt
check "inspect shows the label values" grep -qE '^ +1 +2 +1$' inspect.txt
check "inspect lists label_values" grep -qE '^  /label_values +2 +int64 +contiguous$' inspect.txt
"$shardmax" inspect --file small.h5 > /dev/null
check "inspect --file works too" test $? = 0

printf 'y,a,b\n1,0.5,2\n0,1,3\n' > small.csv
mpi 2 convert --format csv --input small.csv --header --label-column y --output csv.h5
check "CSV converts" test "$status" = 0

# Refusals, each on 2 ranks with one message and the same status everywhere.
printf '1,2,3\n4,5\n' > ragged.csv
expect_convert_error "ragged CSV" 1 "'ragged.csv', line 2: 2 fields, but line 1 has 3" \
  convert --format csv --input ragged.csv --output bad.h5
printf '1 0:1\n' > zero.svm
expect_convert_error "LIBSVM index 0" 1 "'zero.svm', line 1: index 0 in '0:1'; indices start at 1" \
  convert --format libsvm --input zero.svm --output bad.h5
printf 'not an IDX file' > bad.idx
expect_convert_error "wrong IDX magic" 1 "'bad.idx' is not an IDX images file: magic number 0x6e6f7420" \
  convert --format idx --images bad.idx --labels bad.idx --output bad.h5
expect_convert_error "missing input" 1 "cannot open 'absent.csv'" \
  convert --format csv --input absent.csv --output bad.h5
expect_convert_error "existing output" 1 "output file 'small.h5' already exists; pass --overwrite" \
  convert --format libsvm --input small.svm --output small.h5
expect_convert_error "option of another format" 2 "--header does not apply to --format libsvm" \
  convert --format libsvm --input small.svm --header --output bad.h5
expect_convert_error "missing --format" 2 "--format is required: idx, csv or libsvm" \
  convert --input small.svm --output bad.h5
expect_convert_error "gzip level" 2 "--gzip-level must be 1 to 9 (got 0)" \
  convert --format libsvm --input small.svm --output bad.h5 --gzip-level 0
expect_convert_error "inspect a missing file" 1 "file 'absent.h5': no such file" inspect absent.h5

mpi 2 convert --format libsvm --input small.svm --output small.h5 --overwrite
check "--overwrite replaces the output" test "$status" = 0

finish
