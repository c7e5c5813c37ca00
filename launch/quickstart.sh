#!/usr/bin/env bash
# From a bare checkout to a trained model: installs what is missing, builds, writes a
# synthetic dataset to data/ and trains on it with two MPI ranks.
#   bash launch/quickstart.sh [train options...]     e.g. --epochs 10 --lr 0.05
# Train options given here replace the defaults below. BUILD_DIR (default "build") is
# passed on to build.sh.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_root}"

build_dir="${BUILD_DIR:-build}"
shardmax="${build_dir}/trainer/shardmax"
train_file=data/synthetic-train.h5
val_file=data/synthetic-val.h5

BUILD_DIR="${build_dir}" bash launch/build.sh

if [[ -f "${train_file}" && -f "${val_file}" ]]; then
  echo "quickstart.sh: using the existing ${train_file} and ${val_file}"
else
  mkdir -p data
  "${shardmax}" gen --output "${train_file}" --val-output "${val_file}" \
    --rows 200000 --val-rows 20000 --features 64 --classes 10 --separation 2.5 --seed 1
fi

# Defaults as (option, value) pairs; shardmax rejects an option given twice, so an option
# the user passes replaces ours instead of being added to it.
defaults=(
  --train "${train_file}"
  --val "${val_file}"
  --epochs 5
  --batch-size 512
  --lr 0.1
  --momentum 0.9
  --checkpoint-dir runs/quickstart/checkpoints
)
given_option() {
  local option="$1" arg
  shift
  for arg in "$@"; do
    if [[ "${arg}" == "${option}" || "${arg}" == "${option}="* ]]; then return 0; fi
  done
  return 1
}
train_args=()
for ((i = 0; i < ${#defaults[@]}; i += 2)); do
  given_option "${defaults[i]}" "$@" || train_args+=("${defaults[i]}" "${defaults[i + 1]}")
done

# Each quickstart run starts afresh: shardmax refuses a fresh run into a directory that holds
# checkpoints, so the previous quickstart's are removed unless the user resumes or moves them.
if ! given_option --checkpoint-dir "$@" && ! given_option --resume "$@"; then
  rm -f runs/quickstart/checkpoints/ckpt-*.h5
fi

bash launch/mpirun.sh -np 2 "${shardmax}" train "${train_args[@]}" "$@"
