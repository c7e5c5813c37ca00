#!/usr/bin/env bash
# Installs the Debian (bookworm) packages shardmax needs to build, test and run, skipping any
# already installed. Needs root (apt-get) only when something is missing.
#   bash launch/setup.sh
set -euo pipefail

readonly PACKAGES=(
  g++
  make
  cmake
  openmpi-bin
  libopenmpi-dev
  libhdf5-openmpi-dev
  hdf5-tools
  libeigen3-dev
  libboost-program-options-dev
  libgtest-dev
  gnuplot-nox
  dataset-fashion-mnist
  zlib1g-dev
  # Run where users run: a private Slurm for the tests (tests/slurm/), network namespaces
  # for the run across two hosts (tests/launch/across_hosts.sh).
  slurm-wlm
  munge
  iproute2
  valgrind
  clang
  libclang-rt-14-dev
)

is_installed() {
  local status
  status="$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" || return 1
  [[ "${status}" == "install ok installed" ]]
}

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "setup.sh: dpkg-query not found: this script installs Debian packages (bookworm);" \
       "on another system install the equivalents of: ${PACKAGES[*]}" >&2
  exit 1
fi

missing=()
for package in "${PACKAGES[@]}"; do
  is_installed "${package}" || missing+=("${package}")
done

if ((${#missing[@]} == 0)); then
  echo "setup.sh: all ${#PACKAGES[@]} required packages are installed"
  exit 0
fi

if [[ "$(id -u)" -ne 0 ]]; then
  echo "setup.sh: missing packages: ${missing[*]}" >&2
  echo "setup.sh: installing them needs root; run 'sudo bash launch/setup.sh', or:" >&2
  echo "  sudo apt-get update && sudo apt-get install --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

echo "setup.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get update; then
  echo "setup.sh: 'apt-get update' failed (see above)" >&2
  exit 1
fi
if ! apt-get install -y --no-install-recommends "${missing[@]}"; then
  echo "setup.sh: 'apt-get install' of ${missing[*]} failed (see above)" >&2
  exit 1
fi

# apt-get can succeed without installing a package (e.g. held back); check again.
still_missing=()
for package in "${missing[@]}"; do
  is_installed "${package}" || still_missing+=("${package}")
done
if ((${#still_missing[@]} != 0)); then
  echo "setup.sh: still not installed after apt-get: ${still_missing[*]}" >&2
  exit 1
fi
echo "setup.sh: installed ${missing[*]}"
