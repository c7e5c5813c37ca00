# A private single-node Slurm for tests, sourced by the Slurm test scripts:
#   source tests/slurm/slurm_cluster.sh
#   trap stop_slurm_cluster EXIT
#   start_slurm_cluster || exit $?     # 77 (skip) without root or Slurm; 1 if it fails to start
#   ... sbatch, srun, scontrol ...     # talk to this cluster only (SLURM_CONF is exported)
# munged with its own key and socket, slurmctld and slurmd from Debian's slurm-wlm with a
# slurm.conf written into a temporary directory: node `localhost` with this machine's CPUs,
# no cgroups (proctrack/linuxproc, task/none), PMIx for srun, private ports and state
# directories, and scheduler intervals of a second so that a requeued job restarts at once.
# Jobs in partition `urgent` preempt those in `test` (the default) as a busy cluster would:
# the job is requeued, and its --signal is sent at once (preempt_send_user_signal), 30 s
# before SIGTERM (GraceTime).
# Needs root (slurmd starts jobs as their user). Every daemon started here is stopped by its
# process id.

slurm_dir=""
slurm_pids=()

slurm_reason() { echo "skipped: $*"; }

# A TCP port on 127.0.0.1 that nothing listens on (bash's /dev/tcp: no tools needed). The
# pair is drawn below the kernel's ephemeral ports (ip_local_port_range, 32768 and up by
# default): a port some outgoing connection holds there is not listened on, yet slurmctld
# cannot bind it ("Address already in use"), which happened once in CI.
is_port_free() { ! (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null; }
pick_port_pair() {
  local port lowest_ephemeral
  read -r lowest_ephemeral _ < /proc/sys/net/ipv4/ip_local_port_range 2> /dev/null ||
    lowest_ephemeral=32768
  for _ in $(seq 1 50); do
    port=$((10000 + RANDOM % (lowest_ephemeral - 10002)))
    if is_port_free "${port}" && is_port_free "$((port + 1))"; then
      echo "${port}"
      return 0
    fi
  done
  return 1
}

write_slurm_conf() {
  local port=$1
  cat > "${slurm_dir}/slurm.conf" << CONF
ClusterName=shardmaxtest
SlurmctldHost=localhost
SlurmctldPort=${port}
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=${slurm_dir}/munge/munge.socket
CredType=cred/munge
StateSaveLocation=${slurm_dir}/state
SlurmdSpoolDir=${slurm_dir}/spool
SlurmctldPidFile=${slurm_dir}/slurmctld.pid
SlurmdPidFile=${slurm_dir}/slurmd.pid
SlurmctldLogFile=${slurm_dir}/log/slurmctld.log
SlurmdLogFile=${slurm_dir}/log/slurmd.log
PlugStackConfig=${slurm_dir}/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=pmix
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1,bf_interval=1
JobRequeue=1
ReturnToService=2
KillWait=5
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
NodeName=localhost CPUs=$(nproc) State=UNKNOWN
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
SlurmctldParameters=preempt_send_user_signal
PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP PriorityTier=1 GraceTime=30
PartitionName=urgent Nodes=localhost MaxTime=INFINITE State=UP PriorityTier=2 PreemptMode=OFF
CONF
  : > "${slurm_dir}/plugstack.conf"
}

# wait_for SECONDS COMMAND...: until the command succeeds, polling every 0.2 s.
wait_for() {
  local tenths=$(($1 * 5))
  shift
  for _ in $(seq 1 "${tenths}"); do
    "$@" > /dev/null 2>&1 && return 0
    sleep 0.2
  done
  return 1
}

# Each query bounded: a client retries a controller that is not up for seconds at a time.
node_is_idle() { [ "$(timeout 5 sinfo -h -n localhost -o %T 2> /dev/null)" = idle ]; }
# The node is idle, or (true) the controller or the node daemon has died: no use waiting on.
node_is_idle_or_daemon_died() {
  node_is_idle && return 0
  local pid
  for pid in "${slurm_pids[@]:1}"; do kill -0 "${pid}" 2> /dev/null || return 0; done
  return 1
}

start_slurm_cluster() {
  local tool port
  if [ "$(id -u)" -ne 0 ]; then
    slurm_reason "the private Slurm needs root (slurmd starts jobs as their user)"
    return 77
  fi
  for tool in munged slurmctld slurmd sbatch srun scontrol scancel sinfo; do
    if ! command -v "${tool}" > /dev/null; then
      slurm_reason "${tool} not found: install slurm-wlm and munge (bash launch/setup.sh does)"
      return 77
    fi
  done
  # Nothing of an outer Slurm job may leak into this cluster's commands.
  unset "${!SLURM_@}"
  slurm_dir=$(mktemp -d "${TMPDIR:-/tmp}/shardmax-slurm.XXXXXX")
  chmod 755 "${slurm_dir}"
  mkdir -p "${slurm_dir}"/{munge,state,spool,log}
  chmod 755 "${slurm_dir}/munge"
  if ! port=$(pick_port_pair); then
    slurm_reason "no free pair of TCP ports for slurmctld and slurmd"
    return 77
  fi
  write_slurm_conf "${port}"
  export SLURM_CONF="${slurm_dir}/slurm.conf"

  dd if=/dev/urandom of="${slurm_dir}/munge/munge.key" bs=1024 count=1 status=none
  chmod 400 "${slurm_dir}/munge/munge.key"
  munged --foreground --force --socket="${slurm_dir}/munge/munge.socket" \
    --key-file="${slurm_dir}/munge/munge.key" --log-file="${slurm_dir}/log/munged.log" \
    --pid-file="${slurm_dir}/munge/munged.pid" --seed-file="${slurm_dir}/munge/seed" \
    > "${slurm_dir}/log/munged.out" 2>&1 &
  slurm_pids+=($!)
  if ! wait_for 10 test -S "${slurm_dir}/munge/munge.socket"; then
    echo "munged did not start:"; cat "${slurm_dir}"/log/munged.*
    return 1
  fi
  slurmctld -D -i -f "${SLURM_CONF}" > "${slurm_dir}/log/slurmctld.out" 2>&1 &
  slurm_pids+=($!)
  slurmd -D -N localhost -f "${SLURM_CONF}" > "${slurm_dir}/log/slurmd.out" 2>&1 &
  slurm_pids+=($!)
  if ! wait_for 30 node_is_idle_or_daemon_died || ! node_is_idle; then
    echo "the Slurm node did not become idle within 30 s, or a daemon died:"
    tail -n 20 "${slurm_dir}"/log/slurm*
    return 1
  fi
  echo "private Slurm up: SLURM_CONF=${SLURM_CONF}, slurmctld port ${port}"
}

no_jobs_left() { [ -z "$(squeue -h -o %i 2> /dev/null)" ]; }

# Whether process PID still runs (a child that exited stays a zombie until waited for).
is_running() {
  local fields
  read -r -a fields < "/proc/$1/stat" 2> /dev/null || return 1
  [ "${fields[2]}" != Z ]
}

stop_slurm_cluster() {
  local pid
  if [ "${#slurm_pids[@]}" -gt 1 ]; then
    scancel --user root 2> /dev/null
    wait_for 20 no_jobs_left
  fi
  # Reverse order: slurmd, slurmctld, then munged, which they authenticate through.
  for ((i = ${#slurm_pids[@]} - 1; i >= 0; --i)); do
    pid=${slurm_pids[i]}
    kill -TERM "${pid}" 2> /dev/null || continue
    wait_for 10 eval "! is_running ${pid}" || kill -KILL "${pid}" 2> /dev/null
    wait "${pid}" 2> /dev/null
  done
  slurm_pids=()
  if [ -n "${slurm_dir}" ]; then rm -rf "${slurm_dir}"; fi
  slurm_dir=""
}

# job_field JOB FIELD: a field of `scontrol show job`, e.g. job_field 12 JobState.
job_field() { scontrol show job -o "$1" 2> /dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; }

# wait_job_state JOB SECONDS STATE...: until the job is in one of the states; prints it.
wait_job_state() {
  local job=$1 tenths=$(($2 * 5)) state wanted
  shift 2
  for _ in $(seq 1 "${tenths}"); do
    state=$(job_field "${job}" JobState)
    for wanted in "$@"; do
      if [ "${state}" = "${wanted}" ]; then
        echo "${state}"
        return 0
      fi
    done
    sleep 0.2
  done
  echo "${state:-unknown}"
  return 1
}
