# The solvers end to end: L-BFGS and Newton-CG to the same optimum, Newton-CG stopped and
# resumed bit for bit, AdamW and Nesterov, schedules, early stopping, and their bad option
# values.
source "$(dirname "$0")/common.sh" "$@"

"$shardmax" gen --output train.h5 --val-output val.h5 --rows 3000 --val-rows 600 --features 6 \
  --classes 4 --separation 2 > /dev/null || exit 1

mpi 2 train --train train.h5 --val val.h5 --solver lbfgs --weight-decay 0.01 \
  --gradient-tolerance 1e-7 --checkpoint-dir lbfgs
check "lbfgs trains" test "$status" = 0
check "lbfgs logs why it stopped" grep -q "^L-BFGS converged" out.txt
check "lbfgs logs one line per iteration" grep -q "^iteration 3  objective " out.txt
check "lbfgs writes one metrics row per iteration" \
  test "$(($(wc -l < lbfgs/metrics.csv) - 1))" = "$(grep -c '^iteration ' out.txt)"
lbfgs_objective=$(awk '/^final train:/ { print $6 }' out.txt)

newton=(train --train train.h5 --val val.h5 --solver newton --weight-decay 0.01
        --gradient-tolerance 1e-7)
mpi 2 "${newton[@]}" --checkpoint-dir newton
check "newton trains" test "$status" = 0
check "newton logs why it stopped" grep -q "^Newton-CG converged" out.txt
check "newton logs its Hessian products" grep -q "^iteration 2  objective .* hessian_products " out.txt
check "newton reaches the lbfgs optimum" \
  test "$(awk '/^final train:/ { print $6 }' out.txt)" = "$lbfgs_objective"
check "newton preconditions dense data by default" \
  grep -q "Hessian products a step, Kronecker-factored preconditioner)" out.txt
preconditioned_products=$(awk '/^Newton-CG converged/ { print $(NF - 8) }' out.txt)
mpi 2 "${newton[@]}" --checkpoint-dir newton-plain --newton-preconditioner none
check "newton without the preconditioner reaches the same optimum" \
  test "$(awk '/^final train:/ { print $6 }' out.txt)" = "$lbfgs_objective"
check "newton without the preconditioner says so" grep -q "Hessian products a step)$" out.txt
check "the preconditioner saves Hessian products" \
  test "$preconditioned_products" -lt "$(awk '/^Newton-CG converged/ { print $(NF - 8) }' out.txt)"
mpi 2 "${newton[@]}" --checkpoint-dir newton-stopped --max-steps 2
mpi 2 "${newton[@]}" --checkpoint-dir newton-stopped --resume auto
check "newton resumes from its checkpoint" grep -q "resuming from 'newton-stopped/ckpt-000000002.h5'" out.txt
check "newton resumed ends with the uninterrupted run's bits" \
  h5diff newton/model.h5 newton-stopped/model.h5 /model/weights

for solver in "adamw --lr 0.01" "sgd --momentum 0.9 --nesterov --lr 0.05"; do
  # shellcheck disable=SC2086
  mpi 2 train --train train.h5 --val val.h5 --solver $solver --epochs 4 --warmup-steps 20 \
    --lr-schedule step --lr-step-epochs 2 --checkpoint-dir "run-${solver%% *}"
  check "${solver%% *} trains" test "$status" = 0
  check "${solver%% *} names itself" grep -q "(global batch 256, ${solver%% *})" out.txt
  check "${solver%% *} learns" awk '/^final validation/ { sub("%", "", $8); exit !($8 >= 70) }' out.txt
done

mpi 2 train --train train.h5 --val val.h5 --epochs 30 --lr 2 --early-stopping-patience 1 \
  --checkpoint-dir early
check "early stopping ends the run" grep -q "^early stopping after epoch" out.txt
check "early stopping keeps the best model" test -f early/best-model.h5

expect_error "unknown solver" 2 2 \
  "--solver must be 'sgd', 'adamw', 'lbfgs' or 'newton' (got 'bfgs')" train --train train.h5 --solver bfgs
expect_error "newton without a Hessian" 2 2 "--solver newton needs a loss with a Hessian" \
  train --train train.h5 --solver newton --loss hinge
expect_error "newton with --reproducible" 2 2 "--solver newton does not support --reproducible" \
  train --train train.h5 --solver newton --reproducible
expect_error "newton without CG iterations" 2 2 "--max-cg-iterations must be at least 1 (got 0)" \
  train --train train.h5 --solver newton --max-cg-iterations 0
expect_error "unknown newton preconditioner" 2 2 \
  "--newton-preconditioner must be 'auto', 'kronecker' or 'none' (got 'jacobi')" \
  train --train train.h5 --solver newton --newton-preconditioner jacobi
"$shardmax" gen --output sparse.h5 --rows 500 --features 40 --classes 3 --sparse \
  --row-nonzeros 4 > /dev/null || exit 1
expect_error "the kronecker preconditioner on sparse data" 2 2 \
  "--newton-preconditioner kronecker needs dense features; 'sparse.h5' holds sparse ones" \
  train --train sparse.h5 --solver newton --newton-preconditioner kronecker
expect_error "nesterov without momentum" 2 2 "--nesterov needs --momentum > 0" \
  train --train train.h5 --nesterov
expect_error "step schedule without its size" 2 2 "--lr-schedule step needs --lr-step-epochs" \
  train --train train.h5 --lr-schedule step
expect_error "early stopping without validation" 2 2 \
  "--early-stopping-patience needs a validation file (--val)" \
  train --train train.h5 --early-stopping-patience 3
expect_error "beta2 out of range" 2 2 "--beta2 must be in [0, 1) (got 1)" \
  train --train train.h5 --solver adamw --beta2 1
expect_error "history zero" 2 2 "--history must be at least 1 (got 0)" \
  train --train train.h5 --solver lbfgs --history 0
expect_error "resume sgd as lbfgs" 2 1 "lacks optimizer state '/optimizer/lbfgs_s'" \
  train --train train.h5 --val val.h5 --solver lbfgs --checkpoint-dir run-sgd --resume auto

finish
