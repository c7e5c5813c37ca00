# Shared by the end-to-end scripts: arguments, a scratch directory and checks.
# Usage from a script: source "$(dirname "$0")/common.sh" "$@"
set -u
shardmax=$1
make_bad_inputs=$2
mpiexec=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
failures=0

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# mpi RANKS ARGS...: runs shardmax on RANKS ranks; output in out.txt and err.txt. Each rank
# records its own exit status in statuses.txt, so a test can see that every rank stopped.
# A run that takes SHARDMAX_TEST_HANG_SECONDS (default 60; more under the sanitizers, whose
# binaries run several times slower) is a hang (status 124); `seconds` is how long the whole
# job took.
mpi() {
  local ranks=$1
  shift
  rm -f statuses.txt
  local start=$SECONDS
  timeout "${SHARDMAX_TEST_HANG_SECONDS:-60}" "$mpiexec" -n "$ranks" --oversubscribe bash -c \
    '"$0" "$@"; echo $? >> statuses.txt' "$shardmax" "$@" > out.txt 2> err.txt
  local launcher=$?
  seconds=$((SECONDS - start))
  if [ "$launcher" -eq 124 ]; then
    status=124
  elif [ "$(sort -u statuses.txt 2> /dev/null | wc -l)" -eq 1 ] &&
       [ "$(wc -l < statuses.txt)" -eq "$ranks" ]; then
    status=$(head -n 1 statuses.txt)
  else
    status="mixed:$(tr '\n' ' ' < statuses.txt 2> /dev/null)"
  fi
}

check() {  # check DESCRIPTION COMMAND...: the command must succeed
  local description=$1
  shift
  checks=$((checks + 1))
  if "$@"; then echo "ok: $description"; else fail "$description"; fi
}

# expect_error NAME RANKS STATUS MESSAGE ARGS...: on RANKS ranks every rank exits STATUS,
# within 10 seconds, and the one error line holds MESSAGE.
expect_error() {
  local name=$1 ranks=$2 expected_status=$3 message=$4
  shift 4
  checks=$((checks + 1))
  mpi "$ranks" "$@"
  local errors
  errors=$(grep -c '^shardmax: error' err.txt)
  if [ "$status" != "$expected_status" ]; then
    fail "$name: every rank should exit $expected_status, got '$status'"; cat err.txt
  elif [ "$seconds" -gt 10 ]; then
    fail "$name: the ranks took $seconds s to stop, more than 10 s"
  elif ! grep -qF -- "$message" err.txt; then
    fail "$name: message lacks '$message'"; cat err.txt
  elif [ "$errors" -ne 1 ]; then
    fail "$name: expected one error message, got $errors"; cat err.txt
  else
    echo "ok: $name: $(grep '^shardmax: error' err.txt)"
  fi
}

finish() {
  if [ "$failures" -eq 0 ]; then
    echo "$checks passed, 0 failed"
    exit 0
  fi
  echo "$((checks - failures)) passed, $failures failed"
  exit 1
}
checks=0
