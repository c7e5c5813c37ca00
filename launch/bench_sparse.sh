#!/usr/bin/env bash
# Text-scale sparse data (README.md, "Sparse data: benchmark"): two generated text-like problems,
# N rows x D columns with M non-zeros per row (gen --sparse), K = 7 multi-label (sigmoid) and
# K = 20 multi-class (softmax). For each: the time per pass and to the optimum of full-batch
# L-BFGS, the largest resident memory of a rank, and one SGD epoch with the eager K x D gradient
# all-reduce per step (--momentum 0.9) next to the sparse steps (--momentum 0, lazy decay);
# liblinear on the same rows as LIBSVM text when liblinear-train is installed.
#   bash launch/bench_sparse.sh [--rows N] [--features D] [--nnz M] [--ranks R] [--lambda L]
#                               [--max-iterations I] [--history m] [--sgd-batch B]
#                               [--problem multilabel|multiclass] [--install-peers]
# Defaults: N = 1000000, D = 1048576 (2^20), M = 100, R = 2, lambda = 1e-6, I = 300, L-BFGS
# history m = 10 (rank 0 holds about (6m + 8) K (D + 1) doubles), SGD batch B = 1000. (L-BFGS
# stops earlier at gradient 1e-5 or a relative objective decrease of 1e-7; a "*" marks a run
# that reached I instead, whose "to f*" is then only the time of I iterations). --install-peers
# first runs apt-get install liblinear-tools (needs root and Debian's archive). Data goes to
# data/bench-sparse/, runs to runs/bench-sparse/ (both ignored by git).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_root}"
rows=1000000
features=1048576
nnz=100
ranks=2
lambda=1e-6
install_peers=0
max_iterations=300
history=10
sgd_batch=1000
problems="multilabel:7:sigmoid multiclass:20:softmax"
while (($#)); do
  case "$1" in
    --rows) rows=$2; shift 2 ;;
    --features) features=$2; shift 2 ;;
    --nnz) nnz=$2; shift 2 ;;
    --ranks) ranks=$2; shift 2 ;;
    --lambda) lambda=$2; shift 2 ;;
    --max-iterations) max_iterations=$2; shift 2 ;;
    --history) history=$2; shift 2 ;;
    --sgd-batch) sgd_batch=$2; shift 2 ;;
    --problem) problems=$(tr ' ' '\n' <<< "${problems}" | grep "^$2:" || true); shift 2 ;;
    --install-peers) install_peers=1; shift ;;
    *) echo "bench_sparse.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
build_dir="${BUILD_DIR:-build}"
shardmax="${build_dir}/trainer/shardmax"
data=data/bench-sparse
out=runs/bench-sparse

if ((install_peers)); then
  apt-get install -y liblinear-tools > /dev/null
fi
BUILD_DIR="${build_dir}" bash launch/build.sh > /dev/null
mkdir -p "${data}"
rm -rf "${out}"
mkdir -p "${out}"

# run NAME ARGS...: shardmax on the ranks, each rank's peak memory from /usr/bin/time.
run() {
  local name=$1
  shift
  bash launch/mpirun.sh -np "${ranks}" /usr/bin/time -f 'maxrss_kb %M' "${shardmax}" "$@" \
    > "${out}/${name}.log" 2> "${out}/${name}.err"
}
peak_mb() { awk '/^maxrss_kb/ { if ($2 > m) m = $2 } END { printf "%.0f", m / 1024 }' "$1"; }

C=$(awk -v l="${lambda}" -v n="${rows}" 'BEGIN { printf "%.6g", 1 / (l * n) }')
printf 'N = %s, D = %s, %s non-zeros per row, lambda = %s (liblinear C = 1/(lambda N) = %s), %s ranks, %s cores, L-BFGS history %s\n\n' \
  "${rows}" "${features}" "${nnz}" "${lambda}" "${C}" "${ranks}" "$(nproc)" "${history}"
printf '%-22s %8s %9s %8s %11s %12s %9s %11s %11s %12s\n' "problem" "gen s" "file MB" \
  "pass s" "L-BFGS it" "to f* s" "MB/rank" "SGD K*D s" "SGD sparse" "liblinear s"

[[ -n "${problems}" ]] || { echo "bench_sparse.sh: --problem is multilabel or multiclass" >&2; exit 2; }
for problem in ${problems}; do
  IFS=: read -r kind classes loss <<< "${problem}"
  file="${data}/${kind}-${rows}-${features}-${nnz}.h5"
  svm="${file%.h5}.svm"
  gen_seconds="(kept)"
  if [[ ! -f "${file}" ]]; then
    start=$(date +%s.%N)
    extra=()
    [[ "${kind}" == multilabel ]] && extra=(--multi-label)
    "${shardmax}" gen --sparse "${extra[@]}" --output "${file}" --rows "${rows}" \
      --features "${features}" --classes "${classes}" --row-nonzeros "${nnz}" \
      --libsvm-output "${svm}" > /dev/null
    gen_seconds=$(awk -v s="${start}" -v e="$(date +%s.%N)" 'BEGIN { printf "%.0f", e - s }')
  fi
  file_mb=$(du -m "${file}" | cut -f1)

  # L-BFGS to its optimum: passes = objective evaluations; time per pass from its last line.
  run "${kind}-lbfgs" train --train "${file}" --loss "${loss}" --solver lbfgs \
    --weight-decay "${lambda}" --gradient-tolerance 1e-5 --objective-tolerance 1e-7 \
    --max-iterations "${max_iterations}" --history "${history}" --checkpoint-every 100000 --checkpoint-dir "${out}/${kind}-lbfgs"
  read -r iterations evaluations seconds < <(awk '/^iteration / {
      for (i = 1; i <= NF; ++i) { if ($i == "evaluations") e = $(i + 1); if ($i == "elapsed") t = $(i + 1) }
      it = $2 } END { sub("s", "", t); print it, e, t }' "${out}/${kind}-lbfgs.log")
  grep -q "max-iterations reached" "${out}/${kind}-lbfgs.log" && iterations="${iterations}*"
  pass=$(awk -v t="${seconds}" -v e="${evaluations}" 'BEGIN { printf "%.2f", t / e }')
  memory=$(peak_mb "${out}/${kind}-lbfgs.err")

  # One SGD epoch, batch B per step: the K x D all-reduce per step against the sparse step.
  for mode in eager:0.9 sparse:0; do
    IFS=: read -r name momentum <<< "${mode}"
    run "${kind}-sgd-${name}" train --train "${file}" --loss "${loss}" --epochs 1 \
      --batch-size "${sgd_batch}" --lr 1 --momentum "${momentum}" --weight-decay "${lambda}" \
      --checkpoint-every 100000 --checkpoint-dir "${out}/${kind}-sgd-${name}"
  done
  epoch_seconds() { awk '/^epoch / { t = $NF } END { sub("s", "", t); print t }' "$1"; }
  sgd_eager=$(epoch_seconds "${out}/${kind}-sgd-eager.log")
  sgd_sparse=$(epoch_seconds "${out}/${kind}-sgd-sparse.log")

  liblinear="not installed"
  if command -v liblinear-train > /dev/null && [[ -f "${svm}" ]]; then
    # -s 0: L2-regularized logistic regression (primal, trust-region Newton), bias term -B 1.
    # Multi-class: liblinear trains K one-vs-rest problems (not the softmax objective);
    # multi-label: one binary problem per label, the sigmoid objective label by label.
    start=$(date +%s.%N)
    if [[ "${kind}" == multilabel ]]; then
      for ((k = 0; k < classes; ++k)); do
        awk -v k="${k}" '{ n = split($1, on, ","); y = -1
                           for (i = 1; i <= n; ++i) if (on[i] == k) y = 1
                           $1 = y; print }' "${svm}" > "${out}/label.svm"
        liblinear-train -q -s 0 -c "${C}" -B 1 "${out}/label.svm" "${out}/liblinear-${k}.model"
      done
    else
      liblinear-train -q -s 0 -c "${C}" -B 1 "${svm}" "${out}/liblinear.model"
    fi
    liblinear=$(awk -v s="${start}" -v e="$(date +%s.%N)" 'BEGIN { printf "%.0f", e - s }')
    [[ "${kind}" == multilabel ]] && liblinear="${liblinear} (+awk)"
  fi
  printf '%-22s %8s %9s %8s %11s %12s %9s %11s %11s %12s\n' "${kind} K=${classes}" \
    "${gen_seconds}" "${file_mb}" "${pass}" "${iterations}/${evaluations}" "${seconds}" \
    "${memory}" "${sgd_eager}" "${sgd_sparse}" "${liblinear}"
done
echo
echo "pass s: one full-batch objective and gradient over all ranks (one K x D all-reduce);"
echo "L-BFGS it: iterations / objective evaluations until the gradient or objective tolerance;"
echo "SGD K*D s / SGD sparse: one epoch of batch-${sgd_batch} steps with the dense all-reduce (momentum 0.9)"
echo "and with the sparse steps (momentum 0, lazy decay)."
