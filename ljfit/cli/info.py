"""``ljfit info``: dataset summary and which scopes the data determine."""

from __future__ import annotations

import re

from ..errors import LJFitError
from .common import _build_model, _Captured, _emit_warnings, _read, _reading_options

# ----------------------------------------------------------------------------------------
# info
# ----------------------------------------------------------------------------------------

#: finest first: the order scopes are listed in
_SCOPE_ORDER = ("per-site", "per-pair", "per-element")


def _scope_report(ds, args, scope):
    """One row of ``ljfit info``: dict with n_free, rank, determined, note."""
    import numpy as np

    from ..fitting import Problem, starting_point
    from ..fitting.result import diagnose

    row = {"scope": scope}
    try:
        model = _build_model(ds, args, with_bounds=False, scope=scope)
    except LJFitError as exc:
        row["error"] = str(exc)
        return row
    m = len(ds)
    row["n_free"] = model.n_free
    row["n_structures"] = m
    energies = ds.energies if ds.has_energies else np.zeros(m)
    problem = Problem(model, energies, ds.weights if ds.has_energies else None)
    if ds.has_energies:
        x0, how = starting_point(problem)
    else:
        x0, how = model.spec.x0, "spec values"
    row["start"] = how
    jac = model.jacobian(x0)
    norms = np.linalg.norm(jac, axis=0)
    js = jac / np.where(norms > 0, norms, 1.0)
    row["rank"] = int(np.linalg.matrix_rank(js))
    if model.linear:
        X, cols = model.design_matrix()
        xn = np.linalg.norm(X, axis=0)
        row["design_rank"] = int(np.linalg.matrix_rank(X / np.where(xn > 0, xn, 1.0)))
        row["design_columns"] = len(cols)
    from ..fitting.result import _structural_degeneracy

    row["pairs_only"] = _structural_degeneracy(model)
    full_rank = row["rank"] == model.n_free and model.n_free < m
    row["full_rank"] = full_rank
    row["correlated"] = False
    if full_rank and ds.has_energies:
        d = diagnose(problem, x0, method="start")
        corr = d.correlation
        if corr is not None and corr.shape[0] > 1:
            off = np.abs(corr - np.eye(corr.shape[0]))
            row["max_correlation"] = float(np.nanmax(off))
        # a strong correlation alone is no flaw: only standard errors larger than the
        # values (at the starting point) make a full-rank scope poorly determined
        row["correlated"] = bool(d.underdetermined)
        row["loose"] = [nm for nm in d.undetermined]
    return row


def _status(row) -> str:
    if "error" in row:
        return f"not applicable: {row['error']}"
    if row["n_free"] >= row["n_structures"]:
        return (f"underdetermined: {row['n_free']} free parameters >= "
                f"{row['n_structures']} structures")
    if not row["full_rank"] and row.get("pairs_only"):
        return ("underdetermined: only the mixed pair values are determined (the pairs "
                "present cannot tell the elements apart; more such structures cannot help)")
    if not row["full_rank"]:
        return f"underdetermined: Jacobian rank {row['rank']} < {row['n_free']} free parameters"
    if row["correlated"]:
        return ("full rank, but standard errors exceed the values of "
                f"{', '.join(row.get('loose') or ['some parameters'])} (poorly determined)")
    if row.get("max_correlation", 0.0) > 0.99:
        return (f"determined (largest correlation |r| = {row['max_correlation']:.4f}: "
                "information, the standard errors include it)")
    return "determined"


def _suggest(rows):
    """The simplest scope the data determine well (fewest free parameters among full-rank,
    uncorrelated scopes; else among full-rank ones)."""
    ok = [r for r in rows if "error" not in r and r["full_rank"]]
    good = [r for r in ok if not r["correlated"]]
    pool = good or ok
    errors = [r["error"] for r in rows if "error" in r]
    if len(errors) == len(rows):
        # no model could be built: the reason is in the data as read, not in the scopes
        cutoff = next((e for e in errors if "need a cutoff" in e), None)
        if cutoff:
            example = re.search(r"e\.g\. (--cutoff [0-9.]+)", cutoff)
            return None, ("none yet: the structures are periodic and no cutoff was given; "
                          f"run again with {example.group(1) if example else '--cutoff R'} "
                          "(Å) to see which scopes the data determine")
        return None, f"none applies to this data as read ({errors[-1]})"
    if not pool:
        return None, ("none: every applicable scope is underdetermined by this data; fix "
                      "parameters (--fix), state Gaussian priors with a width (--prior "
                      "'NAME=VALUE±WIDTH'), or add structures")
    best = min(pool, key=lambda r: (r["n_free"], _SCOPE_ORDER.index(r["scope"])))
    why = ("the simplest scope the data determine" if good else
           "the simplest full-rank scope; some standard errors exceed their values, consider "
           "fixing some or a Gaussian prior (--prior 'NAME=VALUE±WIDTH')")
    return best["scope"], why


def cmd_info(args) -> int:
    read_opts = _reading_options(args)
    with _Captured() as captured:
        ds = _read(args.path, read_opts, require_energies=False)
        rows = [_scope_report(ds, args, s) for s in _SCOPE_ORDER]
    _emit_warnings(captured.messages, args.quiet)
    if args.quiet:
        return 0
    print(ds.describe())
    if not ds.has_energies:
        print("(no reference energies: ranks at the default parameter values)")
    print()
    print(f"{'scope':<12s} {'free':>5s} {'structures':>10s} {'rank':>5s} {'design':>7s}  status")
    for r in rows:
        if "error" in r:
            print(f"{r['scope']:<12s} {'-':>5s} {'-':>10s} {'-':>5s} {'-':>7s}  {_status(r)}")
            continue
        design = f"{r['design_rank']}/{r['design_columns']}" if "design_rank" in r else "-"
        print(f"{r['scope']:<12s} {r['n_free']:>5d} {r['n_structures']:>10d} {r['rank']:>5d} "
              f"{design:>7s}  {_status(r)}")
    print("(rank: of the Jacobian at the least_squares starting point; design: rank of the "
          "linear design matrix / columns)")
    scope, why = _suggest(rows)
    print(f"suggested scope: {scope} ({why})" if scope else f"suggested scope: {why}")
    return 0
