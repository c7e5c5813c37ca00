#!/usr/bin/env bash
# Installs what is missing, then runs every check, each in a build directory of its own:
#   1. BUILD_DIR (default "build"): the Release build and the whole ctest suite (unit tests,
#      MPI tests under mpiexec with 1, 2 and 4 ranks, end-to-end CLI tests, valgrind memcheck,
#      the launch scripts across two network-namespace hosts and under a private Slurm);
#   2. BUILD_DIR-asan: built with clang, AddressSanitizer and UndefinedBehaviorSanitizer, the
#      same suite (without the Fashion-MNIST accuracy job, the Slurm and two-host launch tests,
#      and the kill, signal and rank-count comparisons, already run in 1, slow here, and whose
#      code the sanitized unit and MPI tests cover) plus the libFuzzer targets, each fuzzing
#      FUZZ_RUNS (default 10000) inputs from a fixed seed. One build serves both, to keep CI short.
# Both run tests side by side, two per core: an MPI or end-to-end test spends most of its time
# starting processes and waiting for them: one at a time, the release suite kept this 2-core
# machine 36% busy for 243 s; side by side it takes 159 s. Tests that signal a run at a moment
# they watch for run alone (RUN_SERIAL in tests/CMakeLists.txt).
#   bash launch/test.sh [extra ctest arguments...]      e.g. -R test_io  (applied to 1 only)
# SHARDMAX_CHECKS (default "release asan") picks which run. Exits non-zero if any failed,
# after running all.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_root}"

build_dir="${BUILD_DIR:-build}"
checks="${SHARDMAX_CHECKS:-release asan}"
parallel=$((2 * $(nproc)))  # ctest's processor slots; an MPI or end-to-end test takes 2

# The same settings as launch/mpirun.sh (ctest's MPI entries also set them).
if [[ "$(id -u)" -eq 0 ]]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1
  export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
if [[ -z "${OMPI_MCA_btl_vader_single_copy_mechanism+set}" ]]; then
  export OMPI_MCA_btl_vader_single_copy_mechanism=none
fi

bash launch/setup.sh
failed=()
run_check() {  # run_check NAME COMMAND...: runs it, timed, and remembers a failure
  local name=$1 start=$SECONDS
  shift
  echo "test.sh: === ${name} ==="
  if "$@"; then
    echo "test.sh: ${name} passed in $((SECONDS - start)) s"
  else
    echo "test.sh: ${name} FAILED after $((SECONDS - start)) s"
    failed+=("${name}")
  fi
}

# Tests are on by default; saying so explicitly also turns them back on in a build
# directory configured earlier with -DSHARDMAX_BUILD_TESTS=OFF.
release() {
  local status=0
  BUILD_DIR="${build_dir}" bash launch/build.sh -DSHARDMAX_BUILD_TESTS=ON &&
    ctest --test-dir "${build_dir}" --output-on-failure --parallel "${parallel}" "$@" || status=$?
  # ctest shows no output of a skipped test: print each skipped test's reason from its log.
  awk '/^[0-9]+\/[0-9]+ Testing: / { test = $3 } /^skipped: / { print "test.sh: " test " " $0 }' \
    "${build_dir}/Testing/Temporary/LastTest.log" 2> /dev/null || true
  return "${status}"
}

asan() {
  # Line tables are all the sanitizers' stack traces need, and a tenth cheaper than full -g.
  CC=clang CXX=clang++ cmake -S . -B "${build_dir}-asan" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -gline-tables-only -DNDEBUG" \
        -DSHARDMAX_SANITIZE=address,undefined -DSHARDMAX_BUILD_TESTS=ON \
        -DSHARDMAX_BUILD_FUZZERS=ON -DSHARDMAX_FUZZ_RUNS="${FUZZ_RUNS:-10000}" &&
    cmake --build "${build_dir}-asan" -j"$(nproc)" &&
    ctest --test-dir "${build_dir}-asan" --output-on-failure --parallel "${parallel}" \
      -E '^cli_(fashion_mnist|fault_injection|stop_signal|reproducible|sparse|losses|evaluate_predict)$' \
      -LE '^(slurm|hosts)$'
}

for check in ${checks}; do
  case "${check}" in
    release) run_check "release build and tests" release "$@" ;;
    asan) run_check "AddressSanitizer + UndefinedBehaviorSanitizer: tests and fuzzers" asan ;;
    *) echo "test.sh: unknown check '${check}' in SHARDMAX_CHECKS" >&2; exit 2 ;;
  esac
done

if ((${#failed[@]} != 0)); then
  echo "test.sh: failed: ${failed[*]}"
  exit 1
fi
echo "test.sh: all checks passed (${checks})"
