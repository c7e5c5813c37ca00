#!/usr/bin/env bash
# The cost of --reproducible (README, "Reproducibility"): the time of one training step in the
# default mode and in reproducible mode, and their ratio, on a Fashion-MNIST-sized problem
# (60000 x 784, K = 10; data/fashion-mnist-train.h5 when quickstart.sh has converted it, else
# synthetic data of that shape) and an ImageNet-feature-sized one (D = 2048, K = 1000; 10240
# synthetic rows, so it runs in minutes), mini-batch SGD at batch 256, on 1 and 2 ranks.
#   bash launch/bench_reproducible.sh [RANKS...]          (default: 1 2)
# A step's time is the batch over the best steady samples/s of three epochs (the first epoch
# warms up). Writes its data and runs under data/ and runs/bench-reproducible/ (ignored by git).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_root}"
ranks_list=("$@")
[[ ${#ranks_list[@]} -gt 0 ]] || ranks_list=(1 2)
build_dir="${BUILD_DIR:-build}"
shardmax="${build_dir}/trainer/shardmax"
out=runs/bench-reproducible
batch=256

[[ -x "${shardmax}" ]] || BUILD_DIR="${build_dir}" bash launch/build.sh > /dev/null
mkdir -p data
rm -rf "${out}"
mkdir -p "${out}"

fashion=data/fashion-mnist-train.h5
fashion_name="Fashion-MNIST"
if [[ ! -f "${fashion}" ]]; then
  fashion=data/bench-fashion-sized.h5
  fashion_name="synthetic, Fashion-MNIST-sized"
  [[ -f "${fashion}" ]] || "${shardmax}" gen --output "${fashion}" --rows 60000 --features 784 \
    --classes 10 --dtype uint8 > /dev/null
fi
imagenet=data/bench-imagenet-features.h5
[[ -f "${imagenet}" ]] || "${shardmax}" gen --output "${imagenet}" --rows 10240 --features 2048 \
  --classes 1000 --separation 1 > /dev/null

# step_ms FILE RANKS NAME [ARGS...]: milliseconds per step of a 3-epoch run.
step_ms() {
  local file=$1 ranks=$2 name=$3
  shift 3
  bash launch/mpirun.sh -np "${ranks}" "${shardmax}" train --train "${file}" --epochs 3 \
    --batch-size "${batch}" --lr 0.01 --progress-every 0 --checkpoint-dir "${out}/${name}" "$@" \
    > "${out}/${name}.log" 2>&1
  awk -v b="${batch}" '/^epoch [23]\// { for (i = 1; i < NF; ++i) if ($i == "samples/s") s = $(i + 1)
                                          if (s > best) best = s }
                       END { printf "%.2f", 1000 * b / best }' "${out}/${name}.log"
}

printf '\nStep time of --reproducible (24 virtual shards) against the default, global batch %s, %s cores\n' \
  "${batch}" "$(nproc)"
printf '%-44s %6s %12s %12s %8s\n' "problem" "ranks" "default ms" "reprod. ms" "ratio"
for problem in fashion imagenet; do
  if [[ "${problem}" == fashion ]]; then
    file="${fashion}"; label="${fashion_name} 60000 x 784, K = 10"
  else
    file="${imagenet}"; label="ImageNet-feature-sized 10240 x 2048, K = 1000"
  fi
  for ranks in "${ranks_list[@]}"; do
    default_ms=$(step_ms "${file}" "${ranks}" "${problem}-${ranks}-default")
    reproducible_ms=$(step_ms "${file}" "${ranks}" "${problem}-${ranks}-reproducible" --reproducible)
    printf '%-44s %6s %12s %12s %8s\n' "${label}" "${ranks}" "${default_ms}" "${reproducible_ms}" \
      "$(awk -v a="${reproducible_ms}" -v b="${default_ms}" 'BEGIN { printf "%.3f", a / b }')"
  done
done
