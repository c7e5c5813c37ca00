#!/usr/bin/env bash
# From a bare checkout to a trained model: installs what is missing (including Debian's
# dataset-fashion-mnist), builds, converts Fashion-MNIST to HDF5 in data/, trains on the
# 60,000 training images with two MPI ranks (settings: launch/fashion-mnist.ini), validating
# on the 10,000 test images, and evaluates the final model on the test images.
#   bash launch/quickstart.sh [train options...]     e.g. --epochs 10 --lr 0.1
# Options given here override the config file's. BUILD_DIR (default "build") is passed on
# to build.sh.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_root}"

build_dir="${BUILD_DIR:-build}"
shardmax="${build_dir}/trainer/shardmax"
source_dir=/usr/share/datasets/fashion-mnist
run_dir=runs/quickstart

BUILD_DIR="${build_dir}" bash launch/build.sh

mkdir -p data
for split in train:train t10k:test; do
  output="data/fashion-mnist-${split#*:}.h5"
  if [[ -f "${output}" ]]; then
    echo "quickstart.sh: using the existing ${output}"
    continue
  fi
  "${shardmax}" convert --format idx --images "${source_dir}/${split%:*}-images-idx3-ubyte.gz" \
    --labels "${source_dir}/${split%:*}-labels-idx1-ubyte.gz" --class-names fashion-mnist \
    --output "${output}"
done

given_option() {
  local option="$1" arg
  shift
  for arg in "$@"; do
    if [[ "${arg}" == "${option}" || "${arg}" == "${option}="* ]]; then return 0; fi
  done
  return 1
}

# Each quickstart run starts afresh: shardmax refuses a fresh run into a directory that holds
# checkpoints, a model or a metrics log, so the previous quickstart's are removed unless the
# user resumes or moves them.
default_run=true
if given_option --checkpoint-dir "$@" || given_option --model "$@"; then default_run=false; fi
if ${default_run} && ! given_option --resume "$@"; then
  rm -rf "${run_dir}"
fi

bash launch/mpirun.sh -np 2 "${shardmax}" train --config launch/fashion-mnist.ini "$@"

# The full report on the test images: accuracy, top-5, per-class precision, recall and F1,
# and the confusion matrix (also written as JSON for scripts).
if ${default_run}; then
  bash launch/mpirun.sh -np 2 "${shardmax}" evaluate --model "${run_dir}/model.h5" \
    --data data/fashion-mnist-test.h5 --json "${run_dir}/test-evaluation.json"
fi
