#!/usr/bin/env bash
# Plots a training run's per-epoch metrics CSV (written by `shardmax train` next to its
# checkpoints) as a PNG: loss per epoch (train and validation) and validation accuracy.
#   bash launch/plot_metrics.sh runs/quickstart/checkpoints/metrics.csv [out.png]
# Uses gnuplot (Debian: gnuplot-nox), installed with apt-get when missing and running as root.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
  echo "usage: bash launch/plot_metrics.sh METRICS_CSV [OUTPUT_PNG]" >&2
  exit 2
fi
metrics="$1"
output="${2:-${metrics%.csv}.png}"
if [[ ! -r "${metrics}" ]]; then
  echo "plot_metrics.sh: cannot read metrics log '${metrics}'" >&2
  exit 1
fi
if [[ "$(wc -l < "${metrics}")" -lt 2 ]]; then
  echo "plot_metrics.sh: '${metrics}' holds no epoch yet" >&2
  exit 1
fi

if ! command -v gnuplot > /dev/null 2>&1; then
  if [[ "$(id -u)" -ne 0 ]]; then
    echo "plot_metrics.sh: gnuplot is missing: sudo apt-get install gnuplot-nox" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gnuplot-nox > /dev/null ||
    { apt-get update > /dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y \
        --no-install-recommends gnuplot-nox > /dev/null; }
fi

# Columns: 1 epoch, 3 train_loss, 4 val_loss, 5 val_accuracy (empty without validation).
gnuplot <<GNUPLOT
set terminal pngcairo size 1000,450 noenhanced
set output '${output}'
set datafile separator ','
set key autotitle columnhead
set multiplot layout 1,2 title 'shardmax: ${metrics}'
set xlabel 'epoch'
set ylabel 'mean cross-entropy'
set grid
plot '${metrics}' using 1:3 with linespoints title 'train loss', \
     '' using 1:(strlen(strcol(4)) > 0 ? column(4) : NaN) with linespoints title 'validation loss'
set ylabel 'validation accuracy (%)'
plot '${metrics}' using 1:(strlen(strcol(5)) > 0 ? 100 * column(5) : NaN) with linespoints title 'validation accuracy'
unset multiplot
GNUPLOT
echo "plot_metrics.sh: wrote ${output}"
