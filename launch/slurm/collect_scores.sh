#!/usr/bin/env bash
# The final validation accuracy of every run under a directory (a sweep), best first, from
# the last row of each run's metrics.csv (column 5, val_accuracy):
#   bash launch/slurm/collect_scores.sh runs/sweep-1234
#   0.8457 runs/sweep-1234/weight-decay-1e-4/metrics.csv
# The one line it runs works as well on its own.
set -euo pipefail
awk -F, 'FNR > 1 { score[FILENAME] = $5 } END { for (f in score) print score[f], f }' "${1:?usage: collect_scores.sh SWEEP_DIR}"/*/metrics.csv | sort -gr
