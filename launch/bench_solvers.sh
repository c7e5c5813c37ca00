#!/usr/bin/env bash
# Time to the optimum on Fashion-MNIST (weight decay 1e-4): passes over the data and wall
# time for shardmax's Newton-CG and L-BFGS to come within 1e-6 (relative) of the optimum, the
# best SGD setting (launch/fashion-mnist.ini) for comparison, and scikit-learn's
# LogisticRegression(solver="lbfgs") on the same objective when python3-sklearn is installed,
# on SKLEARN_THREADS BLAS threads (default 1, as the issue's reference figure was measured).
#   bash launch/bench_solvers.sh [RANKS]          (default 2)
# Builds into build-bench/ as launch/bench.sh does (BUILD_DIR to change it). Prints a table;
# writes its runs under runs/bench-solvers/ (ignored by git).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_root}"
ranks="${1:-2}"
build_dir="${BUILD_DIR:-build-bench}"
sklearn_threads="${SKLEARN_THREADS:-1}"
shardmax="${build_dir}/trainer/shardmax"
train=data/fashion-mnist-train.h5
test_file=data/fashion-mnist-test.h5
out=runs/bench-solvers
lambda=0.0001

BUILD_DIR="${build_dir}" bash launch/build.sh -DSHARDMAX_BUILD_TESTS=ON -DSHARDMAX_NATIVE=ON \
  -DSHARDMAX_AVX512=ON > /dev/null
if [[ ! -f "${train}" || ! -f "${test_file}" ]]; then
  echo "bench_solvers.sh: run bash launch/quickstart.sh once first: it converts Fashion-MNIST" >&2
  exit 1
fi
rm -rf "${out}"
mkdir -p "${out}"

# Newton-CG: gradient passes in float64, Hessian products in float32 (the defaults).
bash launch/mpirun.sh -np "${ranks}" "${shardmax}" train --train "${train}" --solver newton \
  --weight-decay "${lambda}" --gradient-tolerance 1e-7 --objective-tolerance 0 \
  --checkpoint-dir "${out}/newton" > "${out}/newton.log"
# L-BFGS to a tight tolerance; its per-iteration lines give objective, passes and time.
bash launch/mpirun.sh -np "${ranks}" "${shardmax}" train --train "${train}" --solver lbfgs \
  --weight-decay "${lambda}" --gradient-tolerance 1e-7 --objective-tolerance 0 \
  --max-iterations 3000 --checkpoint-dir "${out}/lbfgs" > "${out}/lbfgs.log"
# The same with float32 products (--precision float32): faster passes, an objective
# accurate to about 1e-9, so it stops sooner (its line search sees a flat objective).
bash launch/mpirun.sh -np "${ranks}" "${shardmax}" train --train "${train}" --solver lbfgs \
  --weight-decay "${lambda}" --gradient-tolerance 1e-7 --objective-tolerance 0 \
  --max-iterations 3000 --precision float32 --checkpoint-dir "${out}/lbfgs32" > "${out}/lbfgs32.log"
# SGD as the default job trains, timed from its log.
bash launch/mpirun.sh -np "${ranks}" "${shardmax}" train --config launch/fashion-mnist.ini \
  --checkpoint-dir "${out}/sgd" > "${out}/sgd.log"

optimum=$(awk '/^iteration / { f = $4 } END { printf "%.10f", f }' "${out}/lbfgs.log")
sklearn_line="not installed (apt-get install python3-sklearn)"
if /usr/bin/python3 -c 'import sklearn, h5py' 2> /dev/null; then
  sklearn_line=$(/usr/bin/python3 - "${train}" "${lambda}" "${optimum}" "${sklearn_threads}" <<'PYTHON'
import sys, time
import h5py, numpy as np
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_info
from threadpoolctl import threadpool_limits
path, lam, optimum = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
threadpool_limits(int(sys.argv[4]))
with h5py.File(path, "r") as f:
    x = f["features"][()] / 255.0
    y = f["labels"][()]
n = len(y)
model = LogisticRegression(multi_class="multinomial", solver="lbfgs", C=1.0 / (n * lam),
                           tol=1e-6, max_iter=5000)
start = time.perf_counter()
model.fit(x, y)
seconds = time.perf_counter() - start
z = x @ model.coef_.T + model.intercept_
z -= z.max(axis=1, keepdims=True)
loss = np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(n), y])
objective = loss + lam / 2 * (model.coef_ ** 2).sum()
# threadpoolctl lists OpenBLAS or MKL when numpy uses them; the reference BLAS is not listed.
apis = {i.get("internal_api") for i in threadpool_info()} & {"openblas", "mkl", "blis"}
blas = ",".join(sorted(apis)) or "reference BLAS"
print(f"{objective:.10f}|{int(model.n_iter_[0])}|{seconds:.1f}|{blas}")
PYTHON
)
fi

# First iteration within 1e-6 (relative) of the optimum (that of the float64 L-BFGS run), with
# its passes over the data so far: objective evaluations, plus Hessian products for Newton-CG.
first_within() {  # LOG
  awk -v f="${optimum}" \
  '/^iteration / { e = 0; for (i = 1; i <= NF; ++i) { if ($i == "evaluations" || $i == "hessian_products") e += $(i + 1); if ($i == "elapsed") t = $(i + 1) }
                   if ($4 <= f * (1 + 1e-6)) { sub("s", "", t); print $2, e, t, $4; exit } }' "$1"
}
read -r newton_iter newton_passes newton_seconds newton_objective < <(first_within "${out}/newton.log")
read -r lbfgs_iter lbfgs_evals lbfgs_seconds lbfgs_objective < <(first_within "${out}/lbfgs.log")
read -r lbfgs32_iter lbfgs32_evals lbfgs32_seconds lbfgs32_objective < <(first_within "${out}/lbfgs32.log") || true
sgd_objective=$(awk '/^final train/ { print $6 }' "${out}/sgd.log")
sgd_seconds=$(awk '/^epoch / { t = $NF } END { sub("s", "", t); print t }' "${out}/sgd.log")
sgd_epochs=$(grep -c '^epoch ' "${out}/sgd.log")

printf '\nFashion-MNIST, 60000 x 784, K = 10, lambda = %s, %s ranks (%s)\n' "${lambda}" "${ranks}" \
  "$(nproc) cores"
printf '%-34s %14s %10s %10s %12s\n' "solver" "objective" "passes" "seconds" "rel. gap"
printf '%-34s %14s %10s %10s %12s\n' "shardmax Newton-CG (to 1e-6 of f*)" "${newton_objective}" \
  "${newton_passes}" "${newton_seconds}" \
  "$(awk -v a="${newton_objective}" -v f="${optimum}" 'BEGIN { printf "%.1e", (a - f) / f }')"
printf '%-34s %14s %10s %10s %12s\n' "shardmax L-BFGS (to 1e-6 of f*)" "${lbfgs_objective}" \
  "${lbfgs_evals}" "${lbfgs_seconds}" \
  "$(awk -v a="${lbfgs_objective}" -v f="${optimum}" 'BEGIN { printf "%.1e", (a - f) / f }')"
if [[ -n "${lbfgs32_objective:-}" ]]; then
  printf '%-34s %14s %10s %10s %12s\n' "  the same, --precision float32" "${lbfgs32_objective}" \
    "${lbfgs32_evals}" "${lbfgs32_seconds}" \
    "$(awk -v a="${lbfgs32_objective}" -v f="${optimum}" 'BEGIN { printf "%.1e", (a - f) / f }')"
else
  # Where it stopped instead: its line search sees a flat objective before 1e-6.
  read -r stop_objective stop_evals stop_seconds < <(awk '/^iteration / { o = $4
      for (i = 1; i <= NF; ++i) { if ($i == "evaluations") e = $(i + 1); if ($i == "elapsed") t = $(i + 1) } }
      END { sub("s", "", t); print o, e, t }' "${out}/lbfgs32.log")
  printf '%-34s %14s %10s %10s %12s\n' "  --precision float32 (stopped)" "${stop_objective}" \
    "${stop_evals}" "${stop_seconds}" \
    "$(awk -v a="${stop_objective}" -v f="${optimum}" 'BEGIN { printf "%.1e", (a - f) / f }')"
fi
printf '%-34s %14s %10s %10s %12s\n' "shardmax SGD (fashion-mnist.ini)" "${sgd_objective}" \
  "${sgd_epochs}" "${sgd_seconds}" \
  "$(awk -v a="${sgd_objective}" -v f="${optimum}" 'BEGIN { printf "%.1e", (a - f) / f }')"
if [[ "${sklearn_line}" == *"|"* ]]; then
  IFS='|' read -r sk_objective sk_iterations sk_seconds sk_blas <<< "${sklearn_line}"
  printf '%-34s %14s %10s %10s %12s\n' "scikit-learn lbfgs, tol 1e-6, ${sklearn_threads} thr." \
    "${sk_objective}" "${sk_iterations}" "${sk_seconds}" \
    "$(awk -v a="${sk_objective}" -v f="${optimum}" 'BEGIN { printf "%.1e", (a - f) / f }')"
  printf 'to the same objective, against scikit-learn (%s, %s thread(s)):\n' "${sk_blas}" \
    "${sklearn_threads}"
  printf '  shardmax Newton-CG is %sx faster, L-BFGS %sx\n' \
    "$(awk -v s="${sk_seconds}" -v t="${newton_seconds}" 'BEGIN { printf "%.1f", s / t }')" \
    "$(awk -v s="${sk_seconds}" -v t="${lbfgs_seconds}" 'BEGIN { printf "%.1f", s / t }')"
  if [[ -n "${lbfgs32_seconds:-}" ]]; then
    printf '  L-BFGS with --precision float32: %sx\n' \
      "$(awk -v s="${sk_seconds}" -v t="${lbfgs32_seconds}" 'BEGIN { printf "%.1f", s / t }')"
  fi
else
  echo "scikit-learn: ${sklearn_line}"
fi
echo "f* = ${optimum} (shardmax L-BFGS at gradient tolerance 1e-7; the issue's reference: 0.3794771)"
