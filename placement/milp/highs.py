"""HiGHS through highspy, for the per-step and day MILPs.

scipy's `milp` wraps the same solver but takes no MIP start; the day MILP needs one
(an online agent's day plan) so that HiGHS's time goes on the bound instead of on
finding a first solution. One path for both MILPs: this module.

A start is partial: the placement binaries only. HiGHS completes it by solving the
sub-MIP with those values fixed (the served chains, delays and costs follow), and
says in its log whether that succeeded ("MIP start solution is feasible: objective
value is ..."); the log is read back here, so the caller knows what became of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import highspy
import numpy as np
from scipy import sparse

# HiGHS's model status -> scipy.optimize.milp's status codes, which the callers read.
_STATUS = {
    highspy.HighsModelStatus.kOptimal: 0,
    highspy.HighsModelStatus.kTimeLimit: 1,
    highspy.HighsModelStatus.kIterationLimit: 1,
    highspy.HighsModelStatus.kSolutionLimit: 1,
    highspy.HighsModelStatus.kInterrupt: 1,
    highspy.HighsModelStatus.kInfeasible: 2,
    highspy.HighsModelStatus.kUnbounded: 3,
    highspy.HighsModelStatus.kUnboundedOrInfeasible: 3,
}
# HiGHS's own words on a MIP start (1.16 writes "feasible: objective value is ...").
_START_OK = re.compile(r"MIP start solution is feasible\W+objective value is (\S+)")
_START_NO = re.compile(r"MIP start solution is infeasible|cannot yield feasible solution")
# ... or, for a partial start, its completion's own status after "Attempting to find ...".
_COMPLETING = re.compile(r"Attempting to find feasible solution")
_COMPLETION_NO = re.compile(r"Model status\s*:\s*Infeasible")


@dataclass(frozen=True)
class MipSolve:
    x: np.ndarray | None  # None: no feasible solution found
    fun: float  # objective of x (minimised); nan without one
    status: int  # 0 optimal, 1 a limit reached, 2 infeasible, 3 unbounded, 4 other
    message: str
    mip_dual_bound: float  # proven lower bound of the objective (-inf if none)
    # None: no start given; "feasible" / "infeasible" as HiGHS said; "unconfirmed": HiGHS
    # said neither (it stopped, e.g. at the time limit, before it had completed the start).
    start: str | None = None
    start_objective: float = float("nan")  # the completed start's objective, as HiGHS reported it


def solve(
    cost: np.ndarray,
    integer: np.ndarray,
    lb: np.ndarray,
    ub: np.ndarray,
    A: sparse.csc_array,
    row_lo: np.ndarray,
    row_hi: np.ndarray,
    time_limit: float,
    gap: float,
    start: dict[int, float] | None = None,
) -> MipSolve:
    """min cost·x s.t. row_lo <= A x <= row_hi, lb <= x <= ub, x[integer] integral."""
    n = len(cost)
    h = highspy.Highs()
    # Silent on the console; the log is gathered to learn what HiGHS did with the start.
    h.setOptionValue("log_to_console", False)
    h.setOptionValue("time_limit", float(max(time_limit, 1e-6)))
    h.setOptionValue("mip_rel_gap", float(gap))
    log: list[str] = []
    h.cbLogging.subscribe(lambda e: log.append(e.message))
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, A.shape[0]
    lp.col_cost_ = np.asarray(cost, dtype=float)
    lp.col_lower_, lp.col_upper_ = np.asarray(lb, dtype=float), np.asarray(ub, dtype=float)
    lp.row_lower_, lp.row_upper_ = np.asarray(row_lo, dtype=float), np.asarray(row_hi, dtype=float)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = A.indptr, A.indices, A.data
    is_mip = bool(np.any(integer))
    if is_mip:
        lp.integrality_ = [
            highspy.HighsVarType.kInteger if v else highspy.HighsVarType.kContinuous for v in integer
        ]
    h.passModel(lp)
    if start is not None and is_mip:
        idx = np.fromiter(start.keys(), dtype=np.int32, count=len(start))
        val = np.fromiter(start.values(), dtype=float, count=len(start))
        h.setSolution(len(idx), idx, val)
    h.enableCallbacks()
    h.run()
    info = h.getInfo()
    ms = h.getModelStatus()
    has_x = info.primal_solution_status == 2  # kSolutionStatusFeasible
    x = np.asarray(h.getSolution().col_value, dtype=float) if has_x else None
    fun = float(info.objective_function_value) if has_x else float("nan")
    if is_mip:
        dual = float(info.mip_dual_bound)
    else:  # an LP solved to optimality bounds itself
        dual = fun if ms == highspy.HighsModelStatus.kOptimal else -np.inf
    started, start_obj = None, float("nan")
    if start is not None and is_mip:
        hit = next((m for line in log if (m := _START_OK.search(line))), None)
        at = next((k for k, line in enumerate(log) if _COMPLETING.search(line)), len(log))
        refused = any(_START_NO.search(line) for line in log) or any(
            _COMPLETION_NO.search(line) for line in log[at:]
        )
        started = "feasible" if hit else "infeasible" if refused else "unconfirmed"
        start_obj = float(hit.group(1)) if hit else float("nan")
    return MipSolve(
        x=x,
        fun=fun,
        status=_STATUS.get(ms, 4),
        message=h.modelStatusToString(ms),
        mip_dual_bound=dual if np.isfinite(dual) else -np.inf,
        start=started,
        start_objective=start_obj,
    )
