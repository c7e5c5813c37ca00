#!/usr/bin/env bash
# How close to the hardware shardmax runs, and against which peers: prints one table with
#   - the machine's float32 GEMM peak (Eigen, 1024^3, one core) and read bandwidth, measured
#     in this run, and the roofline of a gradient pass derived from them;
#   - one full gradient pass (loss + gradient over every row, all-reduce included) on
#     Fashion-MNIST, 1 and 2 ranks, its GFLOP/s and fraction of the roofline, the all-reduce
#     time, the old double-precision pass, and the kernel on uint8, float32 and float64 rows;
#   - the pass as L-BFGS takes it on 1 rank x 2 threads (--threads 2) against 2 ranks x 1
#     thread, their peak memory, and the cost of the per-block partials that make the bits
#     independent of the thread count (1 thread, against summing the blocks in place);
#   - the kernel at ImageNet-feature size (K = 1000, D = 2048) against the GEMM peak;
#   - a mini-batch SGD epoch (batch 256, momentum 0.9) by the real trainer, 1 and 2 ranks, and
#     the per-step all-reduce share;
#   - PyTorch's pass and SGD epoch (1 thread) when python3-torch is installed, and the ratios;
#   - with --solvers, time to the optimum against scikit-learn (launch/bench_solvers.sh);
#   - with --streaming, streamed passes against in-memory ones on a 1 GB float32 file (256
#     features; made by launch/bench_stream.sh under data/, kept for later runs): the ratio of
#     paired passes in one process on 1 and 2 ranks, then bench_stream.sh's whole L-BFGS runs
#     on 2 ranks with each rank's peak RSS (/usr/bin/time), in memory and streamed.
#
#   bash launch/bench.sh [--install-peers] [--solvers] [--streaming] [--repeats N]
#
# --install-peers  apt-get installs python3-torch, python3-sklearn, python3-h5py and
#                  libopenblas0-pthread first (Debian's archive; needs root). The peers use
#                  whatever BLAS libblas.so.3 points to: the table says which.
# Builds into build-bench/ (BUILD_DIR to change it) with -DSHARDMAX_NATIVE=ON -DSHARDMAX_AVX512=ON.
# Needs data/fashion-mnist-train.h5 (bash launch/quickstart.sh makes it). Writes its runs
# under runs/bench/ (ignored by git). Times are the best of the repeats; run it on a quiet
# machine: other jobs on the cores make every figure slower.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_root}"

install_peers=0
run_solvers=0
run_streaming=0
repeats=20
while (($#)); do
  case "$1" in
    --install-peers) install_peers=1 ;;
    --solvers) run_solvers=1 ;;
    --streaming) run_streaming=1 ;;
    --repeats) repeats="$2"; shift ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

if ((install_peers)); then
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    python3-torch python3-sklearn python3-h5py libopenblas0-pthread
fi

# Its own build, with AVX-512 where the CPU has it (which valgrind, in the test suite, cannot run).
build_dir="${BUILD_DIR:-build-bench}"
bench="${build_dir}/tests/shardmax_bench"
shardmax="${build_dir}/trainer/shardmax"
train=data/fashion-mnist-train.h5
out=runs/bench
if [[ ! -f "${train}" ]]; then
  echo "bench.sh: run bash launch/quickstart.sh once first: it converts Fashion-MNIST" >&2
  exit 1
fi
BUILD_DIR="${build_dir}" bash launch/build.sh -DSHARDMAX_BUILD_TESTS=ON -DSHARDMAX_NATIVE=ON -DSHARDMAX_AVX512=ON > /dev/null
rm -rf "${out}"
mkdir -p "${out}"

# value KEY LINE: the number after KEY in a `key value` line.
value() { awk -v k="$1" '{ for (i = 1; i < NF; ++i) if ($i == k) { print $(i + 1); exit } }' <<< "$2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
row() { printf '%-52s %12s %12s\n' "$1" "$2" "$3"; }

probe=$("${bench}" probe)
peak=$(value gemm_gflops "${probe}")
bandwidth=$(value read_gbs "${probe}")

pass1=$(bash launch/mpirun.sh -np 1 "${bench}" pass "${train}" "${repeats}")
pass2=$(bash launch/mpirun.sh -np 2 "${bench}" pass "${train}" "${repeats}")
pass_line() { grep '^ranks .* rows ' <<< "$1"; }
step_line() { grep '^ranks .* batch ' <<< "$1"; }
p1=$(pass_line "${pass1}")
p2=$(pass_line "${pass2}")
# The same pass on 1 rank x 2 threads and on 2 ranks x 1 thread (ComputeShardedObjective).
# mpirun binds a lone rank to one core: its 2 threads need both.
t12=$(bash launch/mpirun.sh -np 1 --bind-to none "${bench}" threads "${train}" "${repeats}" 2)
t21=$(bash launch/mpirun.sh -np 2 "${bench}" threads "${train}" "${repeats}" 1)
s1=$(step_line "${pass1}")
s2=$(step_line "${pass2}")
rows=$(value rows "${p1}")
features=$(value features "${p1}")
classes=$(value classes "${p1}")
# 4 N D K flops; bytes: the features once, as held (uint8 as stored, the others as float32).
stored=$(value stored "${p1}")
value_bytes=4
[[ "${stored}" == uint8 ]] && value_bytes=1
gflop=$(awk -v n="${rows}" -v d="${features}" -v k="${classes}" 'BEGIN { printf "%.3f", 4 * n * d * k / 1e9 }')
megabytes=$(awk -v n="${rows}" -v d="${features}" -v s="${value_bytes}" 'BEGIN { printf "%.0f", s * n * d / 1e6 }')
roofline_ms() {  # RANKS: max(compute, memory) time with RANKS cores
  awk -v g="${gflop}" -v p="${peak}" -v mb="${megabytes}" -v bw="${bandwidth}" -v r="$1" \
    'BEGIN { c = g / (p * r) * 1e3; m = mb / 1e3 / (bw * r) * 1e3; printf "%.1f", (c > m ? c : m) }'
}
roof1=$(roofline_ms 1)
roof2=$(roofline_ms 2)

synthetic=$("${bench}" synthetic 8192 2048 1000 5)

# SGD epochs by the trainer itself: the best epoch of three, from its epoch lines.
sgd_epoch_ms() {  # RANKS
  bash launch/mpirun.sh -np "$1" "${shardmax}" train --train "${train}" --epochs 3 \
    --batch-size 256 --lr 0.05 --momentum 0.9 --weight-decay 0.0001 --seed 42 \
    --checkpoint-dir "${out}/sgd-np$1" > "${out}/sgd-np$1.log" 2>&1
  awk -v n="${rows}" '/^epoch / { for (i = 1; i < NF; ++i) if ($i == "samples/s") s = $(i + 1)
                      t = n / s * 1e3; if (best == "" || t < best) best = t }
                      END { printf "%.1f", best }' "${out}/sgd-np$1.log"
}
sgd1=$(sgd_epoch_ms 1)
sgd2=$(sgd_epoch_ms 2)

# PyTorch, one thread, the same data: one forward+backward pass, and an SGD epoch.
blas=$(update-alternatives --query libblas.so.3-x86_64-linux-gnu 2> /dev/null |
       awk '/^Value:/ { print $2 }')
case "${blas}" in
  *openblas*) blas_name="OpenBLAS" ;;
  *blis*) blas_name="BLIS" ;;
  *mkl*) blas_name="MKL" ;;
  "") blas_name="unknown BLAS" ;;
  *) blas_name="reference BLAS" ;;
esac
torch_line=""
if /usr/bin/python3 -c 'import torch, h5py' 2> /dev/null; then
  torch_line=$(OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 /usr/bin/python3 - "${train}" <<'PYTHON'
import sys, time
import h5py, numpy as np, torch
torch.set_num_threads(1)
with h5py.File(sys.argv[1], "r") as f:
    x = torch.from_numpy((f["features"][()] / 255.0).astype(np.float32))
    y = torch.from_numpy(f["labels"][()].astype(np.int64))
n, d = x.shape
k = int(y.max()) + 1
lam = 1e-4
w = torch.zeros(k, d, requires_grad=True)
b = torch.zeros(k, requires_grad=True)
def objective(xb, yb):
    return torch.nn.functional.cross_entropy(xb @ w.T + b, yb) + lam / 2 * (w * w).sum()
best = 1e9
for _ in range(10):
    start = time.perf_counter()
    w.grad = b.grad = None
    objective(x, y).backward()
    best = min(best, time.perf_counter() - start)
optimizer = torch.optim.SGD([w, b], lr=0.05, momentum=0.9)
epoch = 1e9
for _ in range(3):
    order = torch.randperm(n)
    start = time.perf_counter()
    for s in range(0, n - 255, 256):
        rows = order[s:s + 256]
        optimizer.zero_grad()
        objective(x[rows], y[rows]).backward()
        optimizer.step()
    epoch = min(epoch, time.perf_counter() - start)
print(f"torch {torch.__version__} pass_ms {best * 1e3:.1f} epoch_ms {epoch * 1e3:.1f}")
PYTHON
)
fi

pass_ms1=$(value pass_ms "${p1}")
pass_ms2=$(value pass_ms "${p2}")
gflops() { awk -v g="${gflop}" -v t="$1" 'BEGIN { printf "%.1f", g / (t / 1e3) }'; }

echo
printf 'shardmax benchmark, %s, %s cores (%s), %s\n' "$(date -u +%Y-%m-%d)" "$(nproc)" \
  "$(lscpu | awk -F: '/Model name/ { gsub(/^ +/, "", $2); print $2; exit }')" \
  "load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf 'Fashion-MNIST train: %s x %s, K = %s, stored as %s; one pass = %s GFLOP over %s MB (as held)\n\n' \
  "${rows}" "${features}" "${classes}" "${stored}" "${gflop}" "${megabytes}"
row "measurement" "value" "ratio"
row "float32 GEMM peak, 1 core (Eigen 1024^3)" "${peak} GF/s" ""
row "read bandwidth, 1 core" "${bandwidth} GB/s" ""
row "pass roofline, 1 rank / 2 ranks" "${roof1} / ${roof2} ms" ""
row "pass, 1 rank (all-reduce included)" "${pass_ms1} ms" "$(ratio "${pass_ms1}" "${roof1}") x roof"
row "pass, 2 ranks" "${pass_ms2} ms" "$(ratio "${pass_ms2}" "${roof2}") x roof"
row "pass GFLOP/s, 1 rank / 2 ranks" "$(gflops "${pass_ms1}") / $(gflops "${pass_ms2}")" ""
row "pass scaling, 1 -> 2 ranks" "" "$(ratio "${pass_ms1}" "${pass_ms2}") x"
row "pass all-reduce, 2 ranks" "$(value allreduce_ms "${p2}") ms" \
  "$(awk -v a="$(value allreduce_ms "${p2}")" -v t="${pass_ms2}" 'BEGIN { printf "%.1f%%", 100 * a / t }')"
row "pass, 1 rank x 2 threads (--threads 2)" "$(value pass_ms "${t12}") ms" \
  "$(ratio "$(value pass_ms "${t12}")" "${roof2}") x roof"
row "pass, 2 ranks x 1 thread (the same code)" "$(value pass_ms "${t21}") ms" \
  "$(ratio "$(value pass_ms "${t21}")" "${roof2}") x roof"
row "pass scaling, 1 -> 2 threads (1 rank)" "" \
  "$(ratio "$(value one_thread_ms "${t12}")" "$(value pass_ms "${t12}")") x"
row "peak RSS, 1 rank x 2 threads / 2 ranks x 1 thread" \
  "$(value rss_mb_sum "${t12}") / $(value rss_mb_sum "${t21}")" "MB"
row "1 thread: per-block partials / summed in place" \
  "$(value one_thread_ms "${t12}") / $(value in_place_ms "${t12}") ms" \
  "$(value partials_cost "${t12}")%"
row "pass with float64 products (L-BFGS default), 1 rank" "$(value pass64_ms "${p1}") ms" \
  "$(ratio "$(value pass64_ms "${p1}")" "${roof1}") x roof"
row "old double-precision pass, 1 rank" "$(value reference_ms "${p1}") ms" \
  "$(ratio "$(value reference_ms "${p1}")" "${pass_ms1}") x slower"
row "kernel on uint8 / float32 / float64 rows, 1 rank" \
  "$(value kernel_uint8_ms "${p1}") / $(value kernel_float32_ms "${p1}") / $(value kernel_float64_ms "${p1}")" "ms"
row "K=1000, D=2048, 8192 rows: pass" "$(value pass_ms "${synthetic}") ms" ""
row "K=1000, D=2048: GFLOP/s, share of GEMM peak" "$(value gflops "${synthetic}")" \
  "$(awk -v a="$(value gflops "${synthetic}")" -v p="${peak}" 'BEGIN { printf "%.0f%%", 100 * a / p }')"
row "SGD epoch (trainer, batch 256), 1 rank" "${sgd1} ms" ""
row "SGD epoch, 2 ranks" "${sgd2} ms" "$(ratio "${sgd1}" "${sgd2}") x"
row "SGD step loop (picked rows + all-reduce), 1 rank" "$(value step_epoch_ms "${s1}") ms" ""
row "SGD step loop, 2 ranks" "$(value step_epoch_ms "${s2}") ms" \
  "$(ratio "$(value step_epoch_ms "${s1}")" "$(value step_epoch_ms "${s2}")") x"
row "all-reduce per SGD step (waiting included), 2 ranks" "$(value step_allreduce_us "${s2}") us" \
  "$(value step_allreduce_share "${s2}")%"
if [[ -n "${torch_line}" ]]; then
  torch_pass=$(value pass_ms "${torch_line}")
  torch_epoch=$(value epoch_ms "${torch_line}")
  row "PyTorch $(value torch "${torch_line}") pass, 1 thread (${blas_name})" "${torch_pass} ms" \
    "$(ratio "${torch_pass}" "${pass_ms1}") x"
  row "PyTorch SGD epoch, 1 thread (${blas_name})" "${torch_epoch} ms" \
    "$(ratio "${torch_epoch}" "${sgd1}") x"
else
  echo "PyTorch: not installed (bash launch/bench.sh --install-peers)"
fi
echo "ratios: x roof = time / roofline; scaling = 1-rank time / 2-rank time (1-thread / 2-thread);"
echo "        peers = their time / shardmax's on as many cores (1 rank vs 1 thread)"
echo "peers' BLAS: libblas.so.3 -> ${blas:-not installed} (${blas_name})"

if ((run_streaming)); then
  # Whole runs first: they write the file (and keep it) if an earlier run has not.
  whole=$(BUILD_DIR="${build_dir}" bash launch/bench_stream.sh --sizes 1 --ranks 2 --keep)
  stream_file=data/bench-stream-1g-float32.h5
  # 7168 rows: the chunk the trainer picks for whole passes over these features read in place
  # under --memory-budget 256 (README, "Streaming").
  stream_ratio() {  # RANKS
    value mapped_ratio "$(bash launch/mpirun.sh -np "$1" "${bench}" stream "${stream_file}" 7168 7 |
                          grep '^ranks ')"
  }
  echo
  row "streamed pass / in-memory pass (paired), 1 rank" "" "$(stream_ratio 1)"
  row "streamed pass / in-memory pass (paired), 2 ranks" "" "$(stream_ratio 2)"
  echo "whole runs (launch/bench_stream.sh --sizes 1 --ranks 2):"
  grep -E '^(file|1 GB)' <<< "${whole}"
fi

if ((run_solvers)); then
  BUILD_DIR="${build_dir}" bash launch/bench_solvers.sh 2
fi
