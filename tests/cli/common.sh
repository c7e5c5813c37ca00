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
# A run that takes SHARDMAX_TEST_HANG_SECONDS (default 180; more under the sanitizers, whose
# binaries run several times slower) is a hang (status 124); `seconds` is how long the whole
# job took.
mpi() {
  local ranks=$1
  shift
  rm -f statuses.txt
  local start=$SECONDS
  timeout "${SHARDMAX_TEST_HANG_SECONDS:-180}" "$mpiexec" -n "$ranks" --oversubscribe bash -c \
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

# Signals mid-training, on any machine: a run may end before a signal sent "soon" arrives
# (a step takes 0.7 ms or 7 ms depending on the machine's load), so tests hold the ranks
# still (SIGSTOP) while the signal travels through the launchers, and let them go on once it
# is pending at every rank; they then stop after the next step.

# The highest step among the checkpoints in DIR (empty if none).
newest_checkpoint_step() {
  ls "$1" 2> /dev/null | sed -n 's/^ckpt-0*\([0-9][0-9]*\)\.h5$/\1/p' | sort -n | tail -n 1
}

# hold_ranks DIR COUNT STEP: finds the COUNT ranks of $shardmax that train into checkpoint
# directory DIR (by their command line; at most 60 s), stops them as soon as DIR holds a
# checkpoint of step STEP or later, waits until they are stopped, and prints their pids.
hold_ranks() {
  local dir=$1 count=$2 step=$3 pids=() proc pid stopped
  for _ in $(seq 1 600); do
    pids=()
    for proc in /proc/[0-9]*; do
      tr '\0' ' ' < "$proc/cmdline" 2> /dev/null |
        grep -q -- "^$shardmax train .*--checkpoint-dir $dir\( \|$\)" && pids+=("${proc#/proc/}")
    done
    [ "${#pids[@]}" -eq "$count" ] && break
    sleep 0.1
  done
  if [ "${#pids[@]}" -ne "$count" ]; then
    echo "hold_ranks: found ${#pids[@]} of $count ranks training into $dir" >&2
    return 1
  fi
  # The pids are known: stop them within a few milliseconds of the checkpoint.
  for _ in $(seq 1 6000); do
    [ "$(newest_checkpoint_step "$dir")" -ge "$step" ] 2> /dev/null && break
    kill -0 "${pids[0]}" 2> /dev/null || break
    sleep 0.01
  done
  kill -STOP "${pids[@]}" 2> /dev/null
  if ! [ "$(newest_checkpoint_step "$dir")" -ge "$step" ] 2> /dev/null ||
     [ -e "$dir/model.h5" ]; then
    kill -CONT "${pids[@]}" 2> /dev/null
    echo "hold_ranks: the ranks did not stop mid-training (after step $step)" >&2
    return 1
  fi
  # SIGSTOP takes effect asynchronously; a signal that arrived before it would be handled at
  # once instead of staying pending.
  for _ in $(seq 1 100); do
    stopped=0
    for pid in "${pids[@]}"; do
      grep -q '^State:[[:space:]]*T' "/proc/$pid/status" 2> /dev/null && stopped=$((stopped + 1))
    done
    [ "$stopped" -eq "$count" ] && break
    sleep 0.05
  done
  echo "${pids[@]}"
}

# release_when_pending SIGNAL_NUMBER PID...: once every PID has the signal pending (at most
# 30 s), continues them; fails if the signal never arrived.
release_when_pending() {
  local number=$1 pid mask all
  shift
  for _ in $(seq 1 300); do
    all=true
    for pid in "$@"; do
      mask=$(sed -n 's/^ShdPnd:[[:space:]]*//p' "/proc/$pid/status" 2> /dev/null)
      [ -n "$mask" ] && (( (0x$mask >> (number - 1)) & 1 )) || all=false
    done
    $all && break
    sleep 0.1
  done
  kill -CONT "$@"
  $all || { echo "release_when_pending: signal $number did not reach every rank" >&2; return 1; }
}
