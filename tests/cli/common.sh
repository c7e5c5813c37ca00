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
# A run that takes 60 s is a hang (status 124).
mpi() {
  local ranks=$1
  shift
  rm -f statuses.txt
  timeout 60 "$mpiexec" -n "$ranks" --oversubscribe bash -c \
    '"$0" "$@"; echo $? >> statuses.txt' "$shardmax" "$@" > out.txt 2> err.txt
  local launcher=$?
  if [ "$launcher" -eq 124 ]; then
    status=124
  elif [ "$(sort -u statuses.txt 2> /dev/null | wc -l)" -eq 1 ] &&
       [ "$(wc -l < statuses.txt)" -eq "$ranks" ]; then
    status=$(head -n 1 statuses.txt)
  else
    status="mixed:$(tr '\n' ' ' < statuses.txt 2> /dev/null)"
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
