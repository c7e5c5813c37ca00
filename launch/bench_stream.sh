#!/usr/bin/env bash
# Streaming against in-memory reading (README, "Streaming"): for each size, generates a dense
# float32 (or uint8) file with `shardmax gen` under data/ (ignored by git; deleted afterwards unless
# --keep), runs a few L-BFGS iterations on RANKS ranks in memory and streamed under
# --memory-budget, and prints one table: the pass throughput in rows/s (from the trainer's
# iteration lines: objective evaluations x rows / time, the median iteration; the pre-passes
# left out), the streamed/in-memory ratio, and the peak RSS of each rank (/usr/bin/time -f %M).
#
#   bash launch/bench_stream.sh [--sizes "1 16"] [--ranks 2] [--features 256] [--classes 10]
#                               [--iterations 7] [--budget 256] [--in-memory-max-gb 4] [--keep]
#                               [--bind-none] [--dtype uint8] [--read-ahead "off on"]
#                               [--mmap "on off"]
#
# --sizes            file sizes in GB (10^9 bytes of features; default "1 4": a short run)
# --dtype            the features' type, float32 (default) or uint8 (held and streamed as
#                    stored: a quarter of the bytes per row; a GB then holds 4 times the rows)
# --read-ahead       --stream-read-ahead of the streamed runs, one run (and row) per mode
#                    (default "auto": in turn on a rank bound to one core, else read ahead)
# --mmap             --stream-mmap of the streamed runs, one run (and row) per mode and
#                    read-ahead mode (default "on": features read in place where they can be)
# --keep             keep the files in data/ (a later run reuses them instead of generating)
# --budget           --memory-budget of the streamed runs, MiB per rank (default 256; it decides
#                    to stream, the chunks are smaller: README, "Streaming")
# --iterations       L-BFGS iterations per run; the table takes the median iteration (default 7)
# --bind-none        mpirun --bind-to none: a rank's reader thread may then run on another core
#                    (mpirun binds a rank to one core by default, where reading and passes take
#                    turns)
# --in-memory-max-gb the in-memory run is left out above this size: its shard would not fit
#                    in RAM next to the page cache (the ratio is then taken against the
#                    smallest size's in-memory rows/s: the work per row is the same)
# Uses build/trainer/shardmax (BUILD_DIR to change it). Before timing, the file is dropped from
# the page cache and read back, so that it is cached (when it fits) as a dataset read from disk
# is, in 2 MiB folios; the table says which share is (shardmax_bench hugepages). Other jobs on
# the machine slow every figure.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_root}"

sizes="1 4"
ranks=2
features=256
classes=10
iterations=7
budget=256
in_memory_max=4
keep=0
binding=()
dtype=float32
read_ahead=auto
mmap_modes=on
while (($#)); do
  case "$1" in
    --sizes) sizes="$2"; shift ;;
    --ranks) ranks="$2"; shift ;;
    --features) features="$2"; shift ;;
    --classes) classes="$2"; shift ;;
    --iterations) iterations="$2"; shift ;;
    --budget) budget="$2"; shift ;;
    --in-memory-max-gb) in_memory_max="$2"; shift ;;
    --keep) keep=1 ;;
    --bind-none) binding=(--bind-to none) ;;
    --dtype) dtype="$2"; shift ;;
    --read-ahead) read_ahead="$2"; shift ;;
    --mmap) mmap_modes="$2"; shift ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "bench_stream.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

shardmax="${BUILD_DIR:-build}/trainer/shardmax"
bench="${BUILD_DIR:-build}/tests/shardmax_bench"  # built with the tests
if [[ ! -x "${shardmax}" ]]; then
  echo "bench_stream.sh: no ${shardmax}; build first (cmake --build build)" >&2
  exit 1
fi
out=runs/bench-stream
rm -rf "${out}"
mkdir -p "${out}" data
files=()
cleanup() { ((keep)) || rm -f "${files[@]}"; }
trap cleanup EXIT

# run NAME ARGS...: trains on RANKS ranks, each under /usr/bin/time; prints
# "<rows/s> <peak RSS MiB of the largest rank> <of the smallest>".
run() {
  local name=$1
  shift
  rm -rf "${out}/${name}"
  bash launch/mpirun.sh "${binding[@]}" -np "${ranks}" /usr/bin/time -f "peak_rss_kb %M" -a -o "${out}/${name}.rss" \
    "${shardmax}" train --solver lbfgs --max-iterations "${iterations}" --progress-every 0 \
    --checkpoint-dir "${out}/${name}" "$@" > "${out}/${name}.log" 2>&1
  # The median iteration's samples/s: the passes themselves, not the pre-passes or the
  # writes; the median, as other jobs on the machine make single iterations jump.
  awk '/^iteration / { for (i = 1; i < NF; ++i) if ($i == "samples/s") v[n++] = $(i + 1) + 0 }
       END { for (i = 0; i < n; ++i) for (j = i + 1; j < n; ++j) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
             printf "%.0f ", n % 2 ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2 }' "${out}/${name}.log"
  awk '{ kb = $2; if (max == "" || kb > max) max = kb; if (min == "" || kb < min) min = kb }
       END { printf "%.0f %.0f\n", max / 1024, min / 1024 }' "${out}/${name}.rss"
}

row() { printf '%-8s %-36s %14s %8s %16s\n' "$@"; }
echo "shardmax $(git rev-parse --short HEAD), ${ranks} ranks, ${features} ${dtype} features," \
     "${classes} classes, L-BFGS ${iterations} iterations, --memory-budget ${budget} MiB," \
     "$(nproc) cores, ${binding[*]:-default binding}, load $(cut -d ' ' -f 1 /proc/loadavg)"
row "file" "mode" "rows/s" "ratio" "peak RSS/rank"
reference=""
for size in ${sizes}; do
  value_bytes=4
  [[ "${dtype}" == uint8 ]] && value_bytes=1
  rows=$(awk -v g="${size}" -v d="${features}" -v b="${value_bytes}" 'BEGIN { printf "%.0f", g * 1e9 / (b * d) }')
  file="data/bench-stream-${size}g-${dtype}.h5"
  files+=("${file}")
  if [[ ! -f "${file}" ]]; then  # kept by an earlier --keep run: the same file
    "${shardmax}" gen --output "${file}" --rows "${rows}" --features "${features}" \
      --classes "${classes}" --chunk-rows 65536 --separation 1 --dtype "${dtype}" > /dev/null
  fi
  # Into the page cache as a dataset read from disk is: dropped (a file just written sits there
  # in the small pieces it was written in) and read back, which the kernel caches in 2 MiB
  # folios; mapped in place, those take a page-table entry each, the small ones one per 4 KiB.
  sync "${file}"
  dd if="${file}" iflag=nocache count=0 status=none
  cat "${file}" > /dev/null  # as far as it fits
  label="${size} GB"
  if [[ -x "${bench}" ]]; then
    echo "${label}: $("${bench}" hugepages "${file}") (the share of the file cached in 2 MiB folios)"
  fi
  memory_rate=""
  if awk -v s="${size}" -v m="${in_memory_max}" 'BEGIN { exit !(s <= m) }'; then
    read -r memory_rate memory_max memory_min < <(run "memory-${size}" --train "${file}")
    row "${label}" "in memory" "${memory_rate}" "1.00" "${memory_min}-${memory_max} MiB"
    [[ -n "${reference}" ]] || reference="${memory_rate}"
  fi
  for mode in ${read_ahead}; do
    for mmap in ${mmap_modes}; do
      read -r stream_rate stream_max stream_min < <(run "stream-${size}-${mode}-${mmap}" \
        --train "${file}" --memory-budget "${budget}" --stream-read-ahead "${mode}" \
        --stream-mmap "${mmap}")
      base="${memory_rate:-${reference}}"
      ratio=$(awk -v a="${stream_rate}" -v b="${base}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
      [[ -n "${memory_rate}" ]] || ratio="${ratio}*"
      row "${label}" "streamed, read-ahead ${mode}, mmap ${mmap}" "${stream_rate}" "${ratio}" \
        "${stream_min}-${stream_max} MiB"
    done
  done
  ((keep)) || rm -f "${file}"
done
echo "ratio: streamed rows/s over in-memory rows/s on the same file; * against the smallest file's in-memory run"
echo "logs: ${out}/"
