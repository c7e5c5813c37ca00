#!/usr/bin/env bash
# Installs what is missing (setup.sh), then configures and builds shardmax in Release.
#   bash launch/build.sh [extra cmake configure arguments...]
#   BUILD_DIR=/tmp/b bash launch/build.sh -DSHARDMAX_BUILD_TESTS=OFF
# BUILD_DIR defaults to "build"; a relative BUILD_DIR is taken from the repository root.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_root}"

build_dir="${BUILD_DIR:-build}"

bash launch/setup.sh
cmake -S . -B "${build_dir}" -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build "${build_dir}" -j"$(nproc)"
echo "build.sh: built ${build_dir}/trainer/shardmax"
