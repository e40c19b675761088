r"""One result type for every fitter, with honest diagnostics.

Covariance (when there are more structures than free parameters and the Jacobian has full
rank): :math:`\mathrm{Cov} = s^2 (J^\top W J)^{-1}` with :math:`s^2 = 2F/(m - n)`, F the data
cost ½ Σ w r², m the structures with non-zero weight and n the free parameters. The inverse
is taken through an SVD of the column-scaled Jacobian, so that ε (~1e-2 eV) and σ (~3 Å)
columns of very different size do not fake a rank deficiency.

Identifiability: a fit is *underdetermined* when n ≥ m, when the (scaled) Jacobian is rank
deficient, or when two parameters are correlated at |r| > 0.99; the warning names them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["FitResult", "diagnose", "CORRELATION_LIMIT"]

CORRELATION_LIMIT = 0.99
_BOUND_RTOL = 1e-6


@dataclass
class FitResult:
    """What every fitter returns (it does not raise when the fit fails: ``success`` says so).

    Attributes
    ----------
    method : str
    x : ndarray, shape (n_free,)
        Free parameters (eV, Å); may hold ``nan`` where the linear solve left a parameter
        undefined (a coefficient at zero).
    params : dict
        Every parameter (free and fixed) by name.
    names : list of str
        Free parameter names, the order of ``x``.
    cost : float
        ½ Σ_o w_o (ô − o)² over every observation, without any ridge term: χ²/2 with the
        observations' sigmas (dimensionless), eV² for energies given without sigmas.
    rmse, mae, max_abs_error : float
        Of the energies, eV, unweighted, over all structures.
    r2 : float
        Coefficient of determination of the energies.
    predictions, residuals : ndarray, shape (n_structures,)
        Model energies and E − y, eV.
    observed : dict
        Per observable fitted (``energy``, ``forces``, ``stress``): ``predictions`` and
        ``residuals`` (stacked rows; eV, eV/Å, eV/Å³), ``n`` rows, ``rmse``, ``mae``,
        ``max_abs_error``; energies also ``rmse_per_atom`` (eV/atom).
    reduced_chi2 : float
        2·cost / (observations − free parameters): 1 when the residuals are the size of
        the sigmas.
    nfev, njev : int
    wall_time : float
        s.
    success : bool
    message : str
    seed : int or None
    covariance, correlation : ndarray (n_free, n_free) or None
    stderr : dict
        Standard error by free parameter name (``nan`` where undefined).
    jac_rank : int
    jac_condition : float
        Condition number of the column-scaled weighted Jacobian.
    underdetermined : bool
    warnings : list of str
    extra : dict
        Method-specific details (linear coefficients, number of starts, …).
    lower_bound : float
        A certified lower bound of the cost of *any* parameters inside the bounds (the
        units of ``cost``)
        (``nan`` when none is known: nonlinear scopes, ridge fits).
    gap : float
        (cost − lower_bound)/cost: how far this result can at most be from the global
        optimum under the bounds (relative; ``nan`` without a bound).
    certified : bool
        ``gap <= 1e-9``: this result is the certified global optimum under the bounds.
    """

    method: str
    x: np.ndarray
    params: dict
    names: list
    cost: float
    rmse: float
    mae: float
    max_abs_error: float
    r2: float
    predictions: np.ndarray
    residuals: np.ndarray
    nfev: int = 0
    njev: int = 0
    wall_time: float = 0.0
    success: bool = True
    message: str = ""
    seed: int | None = None
    covariance: np.ndarray | None = None
    correlation: np.ndarray | None = None
    stderr: dict = field(default_factory=dict)
    jac_rank: int = 0
    jac_condition: float = float("inf")
    underdetermined: bool = False
    warnings: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    observed: dict = field(default_factory=dict)
    reduced_chi2: float = float("nan")
    lower_bound: float = float("nan")
    gap: float = float("nan")
    certified: bool = False

    @property
    def determined(self) -> bool:
        return not self.underdetermined

    @property
    def defined(self) -> bool:
        """False when some parameter value is undefined (nan)."""
        return bool(np.all(np.isfinite(self.x)))

    def metrics(self) -> dict:
        """The per-method numbers of ``metrics.json`` as plain Python types."""
        return {
            "cost": float(self.cost),
            "rmse": float(self.rmse),
            "mae": float(self.mae),
            "max_abs_error": float(self.max_abs_error),
            "r2": float(self.r2),
            "nfev": int(self.nfev),
            "njev": int(self.njev),
            "wall_time_s": float(self.wall_time),
            "success": bool(self.success),
            "message": str(self.message),
            "lower_bound": _finite_or_none(self.lower_bound),
            "gap": _finite_or_none(self.gap),
            "certified": bool(self.certified),
            "reduced_chi2": float(self.reduced_chi2),
            **self.observable_metrics(),
        }

    def observable_metrics(self) -> dict:
        """``energy_rmse``, ``energy_rmse_per_atom`` (eV), ``force_rmse``, ``force_mae``
        (eV/Å), ``stress_rmse`` (eV/Å³) and the number of each observable fitted (0 and
        ``nan`` for an observable the fit did not use)."""
        nan = float("nan")
        e = self.observed.get("energy", {})
        f = self.observed.get("forces", {})
        s = self.observed.get("stress", {})
        return {
            "energy_rmse": float(e.get("rmse", self.rmse)),
            "energy_rmse_per_atom": float(e.get("rmse_per_atom", nan)),
            "force_rmse": float(f.get("rmse", nan)),
            "force_mae": float(f.get("mae", nan)),
            "stress_rmse": float(s.get("rmse", nan)),
            "n_energies": int(e.get("n", len(self.predictions))),
            "n_force_components": int(f.get("n", 0)),
            "n_stress_components": int(s.get("n", 0)),
        }

    def certificate_text(self) -> str:
        """One line on global optimality: certified, the gap to the bound, or nothing
        (``""``) when no bound is known."""
        if self.certified:
            return "certified global optimum under the bounds"
        if np.isfinite(self.gap):
            return (f"not certified: within {self.gap:.3g} (relative) of the lower bound "
                    f"{self.lower_bound:.8g}")
        return ""

    def __repr__(self):
        vals = ", ".join(f"{k}={v:.6g}" for k, v in self.params.items())
        flag = "" if self.success else " FAILED"
        return (
            f"<FitResult {self.method}{flag}: rmse={self.rmse:.4g} eV, cost={self.cost:.4g}, "
            f"{vals}>"
        )

    def summary(self) -> str:
        """A short human-readable table."""
        lines = [
            f"method {self.method}: {'converged' if self.success else 'NOT converged'} "
            f"({self.message})",
            f"  cost {self.cost:.6g} (χ²/2), RMSE {self.rmse:.6g} eV, MAE {self.mae:.6g} eV, "
            f"R² {self.r2:.6f}, nfev {self.nfev}, {self.wall_time:.3g} s",
        ]
        units = {"forces": "eV/Å", "stress": "eV/Å³"}
        for kind, d in self.observed.items():
            if kind != "energy":
                lines.append(f"  {kind}: RMSE {d['rmse']:.6g} {units[kind]}, MAE "
                             f"{d['mae']:.6g} {units[kind]} ({d['n']} components)")
        cert = self.certificate_text()
        if cert:
            lines.append(f"  {cert}")
        for name, value in self.params.items():
            se = self.stderr.get(name, np.nan)
            unit = "Å" if name.startswith("sigma") else "eV"
            se_txt = f" ± {se:.3g}" if np.isfinite(se) else ""
            lines.append(f"  {name:<20s} {value:.8g}{se_txt} {unit}")
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def _finite_or_none(v):
    v = float(v)
    return v if np.isfinite(v) else None


def _scaled_svd(jw):
    norms = np.linalg.norm(jw, axis=0)
    norms = np.where(norms > 0, norms, 1.0)
    # V must be n × n (its rows beyond the rank span the null space): the reduced SVD gives
    # that when m ≥ n; only when m < n is the full one needed (and U is then small)
    m, n = jw.shape
    _, s, vt = np.linalg.svd(jw / norms, full_matrices=m < n)
    return norms, s, vt


def diagnose(problem, x, *, method, nfev=0, njev=0, wall_time=0.0, success=True,
             message="", seed=None, predictions=None, extra=None, warnings=None) -> FitResult:
    """Build a :class:`FitResult` at ``x``: metrics, covariance, identifiability, bounds.

    Parameters
    ----------
    problem : Problem
    x : ndarray, shape (n_free,)
        Parameters found (may contain ``nan``: then ``predictions`` must be given).
    predictions : ndarray, optional
        Model predictions of every observation, stacked (:meth:`LJModel.predict`), when they
        cannot be computed from ``x`` (linear solve with a coefficient at zero).
    """
    model, spec = problem.model, problem.model.spec
    names = spec.free_names
    x = np.asarray(x, dtype=float)
    warn = list(warnings or [])
    stacked = model.predict(x) if predictions is None else np.asarray(predictions, float)
    cost = problem.data_cost_of(stacked)
    observed = _observed(problem, stacked)
    pred = observed["energy"]["predictions"]
    res = observed["energy"]["residuals"]
    y = problem.energies
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum(res**2)) / ss_tot if ss_tot > 0 else float("nan")
    m, n = problem.n_data, len(names)
    internal = problem.data_cost_of(stacked, relative=True)  # the cost sw·J belongs to

    cov = corr = None
    stderr = {nm: float("nan") for nm in names}
    rank, cond = 0, float("inf")
    under_reasons = []
    if np.all(np.isfinite(x)):
        keep = problem.w > 0
        jw = (problem.sw[:, None] * model.jacobian(x))[keep]
        norms, s, vt = _scaled_svd(jw)
        tol = s.max() * max(jw.shape) * np.finfo(float).eps if s.size else 0.0
        rank = int(np.sum(s > tol))
        cond = float(s.max() / s.min()) if s.size and s.min() > 0 else float("inf")
        if rank < n:
            # parameters with weight in the (near) null space
            null = np.abs(vt[rank:]).max(axis=0)
            involved = [names[k] for k in np.flatnonzero(null > 0.1)]
            under_reasons.append(
                f"the Jacobian has rank {rank} < {n} free parameters: "
                f"{', '.join(involved) or 'some parameters'} cannot be determined independently"
            )
        elif m > n:
            inv = (vt.T / s**2) @ vt  # (J_s^T J_s)^-1 (rank == n here, so vt is n × n)
            s2 = 2.0 * internal / (m - n)
            cov = s2 * inv / np.outer(norms, norms)
            sd = np.sqrt(np.diag(cov))
            stderr = dict(zip(names, map(float, sd)))
            with np.errstate(invalid="ignore", divide="ignore"):
                corr = cov / np.outer(sd, sd) if np.all(sd > 0) else None
            if corr is None:  # an exact fit (s² = 0): correlations from the curvature alone
                d = np.sqrt(np.diag(inv))
                corr = inv / np.outer(d, d)
            iu = np.triu_indices(n, 1)
            for a, b in zip(*iu):
                if abs(corr[a, b]) > CORRELATION_LIMIT:
                    under_reasons.append(
                        f"{names[a]} and {names[b]} correlated at r = {corr[a, b]:.3f}"
                    )
    if n >= m:
        what = "structures" if m == problem.model.n_structures else "observations"
        under_reasons.insert(
            0, f"{n} free parameters but only {m} {what}: the data cannot determine them"
        )
    underdetermined = bool(under_reasons)
    if underdetermined:
        remedy = "add structures, fix some parameters, use regularization=λ with a prior"
        if model.scope == "per-site":
            remedy += ", or a coarser scope (per-element or per-pair instead of per-site)"
        elif model.scope == "per-pair":
            remedy += ", or a coarser scope (per-element with a mixing rule)"
        warn.append("underdetermined: " + "; ".join(under_reasons) + f". Remedy: {remedy}.")
        if problem.lam > 0:
            warn.append(
                f"regularization λ = {problem.lam:g} makes the answer unique; the poorly "
                "determined parameters lean on the prior"
            )
    # values on their bounds
    for k, nm in enumerate(names):
        lo, hi, v = problem.lower[k], problem.upper[k], x[k]
        if not np.isfinite(v):
            continue
        width = hi - lo if np.isfinite(hi - lo) else max(1.0, abs(v))
        unit = spec[nm].unit
        if np.isfinite(lo) and v - lo <= _BOUND_RTOL * width:
            warn.append(f"{nm} = {v:.6g} {unit} is at its lower bound")
        elif np.isfinite(hi) and hi - v <= _BOUND_RTOL * width:
            warn.append(f"{nm} = {v:.6g} {unit} is at its upper bound")
    return FitResult(
        method=method,
        x=x,
        params=spec.as_dict(np.where(np.isfinite(x), x, np.nan)),
        names=names,
        cost=cost,
        rmse=float(np.sqrt(np.mean(res**2))),
        mae=float(np.mean(np.abs(res))),
        max_abs_error=float(np.max(np.abs(res))),
        r2=r2,
        predictions=pred,
        residuals=res,
        nfev=int(nfev),
        njev=int(njev),
        wall_time=float(wall_time),
        success=bool(success),
        message=str(message),
        seed=seed,
        covariance=cov,
        correlation=corr,
        stderr=stderr,
        jac_rank=rank,
        jac_condition=cond,
        underdetermined=underdetermined,
        warnings=warn,
        extra=dict(extra or {}),
        observed=observed,
        reduced_chi2=2.0 * cost / (m - n) if m > n else float("nan"),
    )


def _observed(problem, stacked) -> dict:
    """Predictions, residuals and error statistics of each observable (see
    :attr:`FitResult.observed`)."""
    out = {}
    n_atoms = problem.model.features.n_atoms
    for kind, sl in problem.slices.items():
        if sl.stop == sl.start and kind != "energy":
            continue
        pred = stacked[sl]
        res = pred - problem.y[sl]
        ok = np.isfinite(res)
        d = {
            "predictions": pred,
            "residuals": res,
            "n": int(sl.stop - sl.start),
            "rmse": float(np.sqrt(np.mean(res[ok] ** 2))) if ok.any() else float("nan"),
            "mae": float(np.mean(np.abs(res[ok]))) if ok.any() else float("nan"),
            "max_abs_error": float(np.max(np.abs(res[ok]))) if ok.any() else float("nan"),
        }
        if kind == "energy" and np.all(n_atoms > 0):
            per_atom = res / n_atoms
            d["rmse_per_atom"] = (float(np.sqrt(np.mean(per_atom[ok] ** 2)))
                                  if ok.any() else float("nan"))
        out[kind] = d
    return out
