#!/usr/bin/env bash
# Installs what is missing, builds shardmax with its tests, and runs the whole ctest suite
# (unit tests, MPI tests under mpiexec with 1, 2 and 4 ranks, end-to-end CLI tests, the
# launch scripts across two network-namespace hosts and under a private Slurm). Prints the
# reason of every skipped test.
#   bash launch/test.sh [extra ctest arguments...]      e.g. -R test_io  or  -j2
# BUILD_DIR (default "build") is passed on to build.sh. Exits with ctest's status.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_root}"

build_dir="${BUILD_DIR:-build}"

# The same settings as launch/mpirun.sh (ctest's MPI entries also set them).
if [[ "$(id -u)" -eq 0 ]]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1
  export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
if [[ -z "${OMPI_MCA_btl_vader_single_copy_mechanism+set}" ]]; then
  export OMPI_MCA_btl_vader_single_copy_mechanism=none
fi

# Tests are on by default; saying so explicitly also turns them back on in a build
# directory configured earlier with -DSHARDMAX_BUILD_TESTS=OFF.
BUILD_DIR="${build_dir}" bash launch/build.sh -DSHARDMAX_BUILD_TESTS=ON

status=0
ctest --test-dir "${build_dir}" --output-on-failure "$@" || status=$?

# ctest shows no output of a skipped test: print each skipped test's reason from its log.
awk '/^[0-9]+\/[0-9]+ Testing: / { test = $3 } /^skipped: / { print "test.sh: " test " " $0 }' \
  "${build_dir}/Testing/Temporary/LastTest.log" 2> /dev/null || true
exit "${status}"
