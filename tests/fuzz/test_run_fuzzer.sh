# run_fuzzer.sh tells crashes inside HDF5 from other findings: a seed that makes HDF5 1.10
# divide by zero (tests/io/data/fuzz_data_chunk_dimension_zero.h5) crashes every restart as
# libFuzzer loads it, so the script must report each as a crash inside HDF5, restart with the
# next seed, and fail after the sixth, saying why.
#   bash test_run_fuzzer.sh FUZZ_DATA
set -u
fuzzer=$1
here="$(cd "$(dirname "$0")" && pwd)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/seeds"
cp "$here/../io/data/fuzz_data_chunk_dimension_zero.h5" "$work/seeds/"
bash "$here/run_fuzzer.sh" "$fuzzer" "$work/found" "$work/seeds" 100 -rss_limit_mb=2048 \
  > "$work/out.txt" 2>&1
status=$?
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
[ "$status" -ne 0 ] || fail "run_fuzzer.sh should fail after more than 5 crashes inside HDF5"
restarts=$(grep -c "a crash inside HDF5 itself (known upstream)" "$work/out.txt")
[ "$restarts" -eq 6 ] || fail "expected 6 crashes inside HDF5 reported, got $restarts"
grep -q "going on from the inputs found so far with -seed=7" "$work/out.txt" ||
  fail "the restarts should take seeds 2 to 7"
grep -q "more than 5 crashes inside HDF5: failing" "$work/out.txt" || fail "no reason given"
ls "$work"/found-crash-* > /dev/null 2>&1 || fail "the crashing input was not kept"
if [ "$failures" -ne 0 ]; then cat "$work/out.txt"; exit 1; fi
echo "ok: 6 crashes inside HDF5 reported and restarted past, then a failure naming why"
