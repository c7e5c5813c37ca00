#!/usr/bin/env bash
# The cost of --reproducible (README, "Reproducibility"): the time of one mini-batch SGD step
# in the default mode and in reproducible mode (24 virtual shards up to 8 ranks, the defaults,
# and up to 24 ranks for comparison: 24 parts per step instead of 12), and their ratio, on
#   - a Fashion-MNIST-sized problem: 60000 x 784, K = 10 (data/fashion-mnist-train.h5 when
#     quickstart.sh has converted it, else synthetic uint8 data of that shape), batch 256;
#   - an ImageNet-feature-sized one: D = 2048, K = 1000 (8192 synthetic rows, so it runs in
#     minutes), batch 256 and 2048;
# on 1 and 2 ranks (or the rank counts given).
#   bash launch/bench_reproducible.sh [RANKS...]
#   REPEATS=3 bash launch/bench_reproducible.sh 1 2
# A step's time is the batch over the best samples/s of the epochs after the first, over
# REPEATS runs of each mode (default 2, alternating the modes), so other load on the machine
# weighs on both modes alike. Data goes to data/, runs to runs/bench-reproducible/ (ignored).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_root}"
ranks_list=("$@")
[[ ${#ranks_list[@]} -gt 0 ]] || ranks_list=(1 2)
repeats="${REPEATS:-2}"
build_dir="${BUILD_DIR:-build}"
shardmax="${build_dir}/trainer/shardmax"
out=runs/bench-reproducible

[[ -x "${shardmax}" ]] || BUILD_DIR="${build_dir}" bash launch/build.sh > /dev/null
mkdir -p data
rm -rf "${out}"
mkdir -p "${out}"

fashion=data/fashion-mnist-train.h5
fashion_name="Fashion-MNIST"
if [[ ! -f "${fashion}" ]]; then
  fashion=data/bench-fashion-sized.h5
  fashion_name="Fashion-MNIST-sized (synthetic)"
  [[ -f "${fashion}" ]] || "${shardmax}" gen --output "${fashion}" --rows 60000 --features 784 \
    --classes 10 --dtype uint8 > /dev/null
fi
imagenet=data/bench-imagenet-features.h5
[[ -f "${imagenet}" ]] || "${shardmax}" gen --output "${imagenet}" --rows 8192 --features 2048 \
  --classes 1000 --separation 1 > /dev/null

# best_step_ms NAME FILE RANKS BATCH EPOCHS [ARGS...]: the best milliseconds per step over the
# epochs after the first of one run, or of the earlier runs of NAME if they were faster.
declare -A best
best_step_ms() {
  local name=$1 file=$2 ranks=$3 batch=$4 epochs=$5 log
  shift 5
  log="${out}/${name}-$((RANDOM)).log"
  bash launch/mpirun.sh -np "${ranks}" "${shardmax}" train --train "${file}" --epochs "${epochs}" \
    --batch-size "${batch}" --lr 0.01 --progress-every 0 --checkpoint-dir "${log%.log}" "$@" \
    > "${log}" 2>&1
  best[${name}]=$(awk -v b="${batch}" -v old="${best[${name}]:-}" '
    /^epoch / && $2 !~ /^1\// { for (i = 1; i < NF; ++i) if ($i == "samples/s") s = $(i + 1)
                                ms = 1000 * b / s; if (old == "" || ms < old) old = ms }
    END { printf "%.4f", old }' "${log}")  # 0.01 ms would make a 0.3 ms step's ratio 3% coarse
}

printf '\nStep time of --reproducible against the default mode, %s cores, best of %s runs each\n' \
  "$(nproc)" "${repeats}"
printf '%-48s %6s %3s %3s %6s %12s %12s %8s\n' "problem" "batch" "V" "M" "ranks" \
  "default ms" "reprod. ms" "ratio"
# problem, batch, epochs, V (--virtual-shards), M (--max-ranks)
for setting in "fashion 256 10 24 8" "fashion 256 10 24 24" "imagenet 256 2 24 8" \
               "imagenet 256 2 24 24" "imagenet 2048 2 24 8"; do
  read -r problem batch epochs shards max_ranks <<< "${setting}"
  if [[ "${problem}" == fashion ]]; then
    file="${fashion}"; label="${fashion_name} 60000 x 784, K = 10"
  else
    file="${imagenet}"; label="ImageNet-feature-sized 8192 x 2048, K = 1000"
  fi
  for ranks in "${ranks_list[@]}"; do
    key="${problem}-${batch}-${ranks}"
    for ((run = 0; run < repeats; ++run)); do
      best_step_ms "${key}-default" "${file}" "${ranks}" "${batch}" "${epochs}"
      best_step_ms "${key}-${shards}-${max_ranks}-reproducible" "${file}" "${ranks}" "${batch}" \
        "${epochs}" --reproducible --virtual-shards "${shards}" --max-ranks "${max_ranks}"
    done
    reproducible_ms="${best[${key}-${shards}-${max_ranks}-reproducible]}"
    printf '%-48s %6s %3s %3s %6s %12s %12s %8s\n' "${label}" "${batch}" "${shards}" \
      "${max_ranks}" "${ranks}" "${best[${key}-default]}" "${reproducible_ms}" \
      "$(awk -v a="${reproducible_ms}" -v b="${best[${key}-default]}" \
         'BEGIN { printf "%.3f", a / b }')"
  done
done
echo "(bash launch/bench_reproducible.sh ${ranks_list[*]}; REPEATS=${repeats})"
