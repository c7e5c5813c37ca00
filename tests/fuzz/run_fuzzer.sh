# One fuzz_* ctest entry: FUZZER fuzzes RUNS inputs from the seeds in SEEDS, the inputs it
# finds going to FOUND (emptied first), from -seed=1.
#   bash run_fuzzer.sh FUZZER FOUND SEEDS RUNS [libFuzzer flags...]
# Coverage is not quite deterministic (HDF5 and Open MPI run the same input along slightly
# different paths), so the inputs tried differ a little from run to run, and some runs reach
# bugs of HDF5 1.10 itself that a damaged file triggers while HDF5 parses it (a division by
# zero in H5D__chunk_set_info under H5Dopen2: README.md, "Fuzzing"). Such a finding (a deadly
# signal whose frame #0 is in libhdf5) is printed with its input, and fuzzing goes on from the
# inputs found so far with the next seed, for the runs left; any other finding fails, as do
# more than 5 in HDF5.
set -uo pipefail

fuzzer=$1 found=$2 seeds=$3 runs=$4
shift 4
rm -rf "${found}" && mkdir -p "${found}" || exit 1
log="${found}.log"
seed=1 done_runs=0 upstream=0
while ((done_runs < runs)); do
  "${fuzzer}" "${found}" "-seed=${seed}" "-runs=$((runs - done_runs))" \
    "-artifact_prefix=${found}-" "$@" "${seeds}" > "${log}" 2>&1
  status=$?
  # Messages of the code under test (e.g. HDF5 or Open MPI warnings) repeat by the thousand.
  grep -v -e 'mca_fbtl_posix_preadv' -e 'failed to allocate' "${log}" | tail -n 40
  ((status == 0)) && exit 0
  if grep -qE '^==[0-9]+==ERROR: AddressSanitizer: (SEGV|FPE|BUS) ' "${log}" &&
     grep -A1 -E '^==[0-9]+==ERROR: AddressSanitizer' "${log}" | grep -qE '^ +#0 .*libhdf5'; then
    upstream=$((upstream + 1))
    input=$(grep -o "Test unit written to .*" "${log}" | sed 's/Test unit written to //')
    echo "run_fuzzer.sh: a crash inside HDF5 itself (known upstream), input kept in ${input};" \
      "going on from the inputs found so far with -seed=$((seed + 1))"
    if ((upstream > 5)); then
      echo "run_fuzzer.sh: more than 5 crashes inside HDF5: failing" >&2
      exit 1
    fi
    # Executions done before the crash: libFuzzer's last progress line "#N ...".
    last=$(grep -oE '^#[0-9]+' "${log}" | tail -n 1 | tr -d '#')
    done_runs=$((done_runs + ${last:-0} + 1))
    seed=$((seed + 1))
    continue
  fi
  echo "run_fuzzer.sh: ${fuzzer##*/} found a bug (exit ${status}); the whole log: ${log}" >&2
  exit 1
done
