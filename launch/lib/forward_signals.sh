# Sourced by launch scripts that must do work after their command ends (clean up, requeue)
# and so cannot `exec` it. Bash defers traps while a foreground child runs, so the command
# runs in the background and the script waits for it, passing signals on.
#
#   run_forwarding_signals COMMAND...    sets child_status to the command's exit status
#
# SIGTERM, SIGHUP, SIGUSR1 and SIGUSR2 sent to the script are sent on to the command. SIGINT
# is not: Ctrl-C on a terminal already reaches every process of the foreground group, and
# mpirun takes a second SIGINT as "terminate at once, skip the clean-up". If the script
# defines on_forwarded_signal, it is called with the signal's name before passing it on.

run_forwarding_signals() {
  local child signal rc
  "$@" &
  child=$!
  forwarded=0
  for signal in TERM HUP USR1 USR2; do
    # shellcheck disable=SC2064  # expand $signal and $child now
    trap "forwarded=1; _forward_signal ${signal} ${child}" "${signal}"
  done
  trap 'forwarded=1' INT
  child_status=
  while :; do
    forwarded=0
    wait "${child}" && rc=0 || rc=$?  # (no errexit on the command's failure)
    # A trapped signal interrupts `wait` (status > 128) while the command runs on: wait
    # again. 127: the command was already reaped and reported by the previous wait.
    if ((rc == 127)) && [[ -n "${child_status}" ]]; then break; fi
    child_status=${rc}
    ((forwarded)) || break
  done
  trap - TERM HUP USR1 USR2 INT
}

_forward_signal() {
  if declare -F on_forwarded_signal > /dev/null; then on_forwarded_signal "$1"; fi
  kill -s "$1" "$2" 2> /dev/null || true
}
