r"""One result type for every fitter, with honest diagnostics.

Covariance (when there are more structures than free parameters and the Jacobian has full
rank): :math:`\mathrm{Cov} = s^2 (J^\top W J)^{-1}` with :math:`s^2 = 2F/(m - n)`, F the data
cost ½ Σ w r², m the structures with non-zero weight and n the free parameters (the sigmas
set relative weights; their overall size is estimated from the residuals). With
``absolute_sigma`` the sigmas are the true errors: :math:`\mathrm{Cov} = (J^\top W J)^{-1}`
(and the reduced χ² is a test of the model: a warning when it lies outside its 99 % range).
Gaussian priors add their information :math:`\mathrm{diag}(1/\delta_j^2)` to the data's
(:math:`J^\top W J/s^2`, or unscaled with absolute sigmas), so that a fit is determined by
data and priors together even with fewer observations than parameters. A parameter on an
active bound is held there: its standard error is undefined ("at bound") and the covariance
is that of the others. The inverse is taken through an SVD of the column-scaled Jacobian,
so that ε (~1e-2 eV) and σ (~3 Å) columns of very different size do not fake a rank
deficiency.

Identifiability: a fit is *underdetermined* when n ≥ m (without priors), when the (scaled)
Jacobian (with the prior rows) is rank deficient, or when a standard error exceeds its
parameter's magnitude (for an offset or e0: its bounds' width, or the spread of the
energies); the warning names the parameters and gives remedies that fit the case. A strong
correlation (|r| > 0.99) alone is information (:attr:`FitResult.notes`), not a flaw: the
standard errors already include it. Per-element parameters that only occur in mixed pairs
(Cu on Au: only √(ε_Au ε_Cu) and (σ_Au + σ_Cu)/2) are reported as the pair values the data
determine (:attr:`FitResult.determined_combinations`). R² < 0 is a *poor fit*.
:attr:`FitResult.status` is the one label every report uses.
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
        ½ Σ_o w_o (ô − o)² over every observation, without the prior terms: χ²/2 with the
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
        (``nan`` when none is known: nonlinear scopes, priors).
    gap : float
        (cost − lower_bound)/cost: how far this result can at most be from the global
        optimum under the bounds (relative; ``nan`` without a bound).
    certified : bool
        ``gap <= 1e-9``: this result is the certified global optimum under the bounds.
    notes : list of str
        Information that is not a problem (e.g. strongly correlated but determined
        parameters).
    at_bound : dict
        ``{name: "lower" | "upper"}`` of parameters on an active bound; their standard
        error is undefined (``nan``) and the covariance is that of the others.
    undetermined : list of str
        Parameters whose value is one arbitrary point of what the data allow (empty when
        the fit is determined).
    determined_combinations : list of dict
        Where per-element parameters are degenerate: the pair values the data do determine
        (``name``, ``formula``, ``value``, ``stderr``, ``unit``).
    prior_cost : float
        ½ Σ ((p − value)/width)² of the Gaussian priors (0 without priors).
    absolute_sigma : bool
        Standard errors take the sigmas as true errors (not rescaled by the reduced χ²).
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
    notes: list = field(default_factory=list)
    at_bound: dict = field(default_factory=dict)
    undetermined: list = field(default_factory=list)
    determined_combinations: list = field(default_factory=list)
    prior_cost: float = 0.0
    absolute_sigma: bool = False

    @property
    def determined(self) -> bool:
        return not self.underdetermined

    @property
    def poor(self) -> bool:
        """R² < 0: the fit is worse than the mean of the reference energies."""
        return bool(np.isfinite(self.r2) and self.r2 < 0)

    @property
    def flags(self) -> list:
        """Every label that applies, most severe first (see :attr:`status`)."""
        out = []
        if not self.defined:
            out.append("undefined parameters")
        if not self.success:
            out.append("not converged")
        # a model worse than the mean energy comes before what the data determine: its
        # parameters mean little either way, and the remedy (check the data) comes first
        if self.poor:
            out.append("poor fit")
        if self.underdetermined:
            out.append("underdetermined")
        return out or ["ok"]

    @property
    def status(self) -> str:
        """The one label of the result that every report uses: ``"undefined parameters"``
        (a value is nan), ``"not converged"``, ``"poor fit"`` (R² < 0), ``"underdetermined"``
        (rank deficiency, more free parameters than observations, or standard errors larger
        than the values) or ``"ok"``; :attr:`flags` lists all that apply."""
        return self.flags[0]

    @property
    def objective(self) -> float:
        """What the fit minimised: the data cost plus the prior terms (χ²/2)."""
        return float(self.cost + self.prior_cost)

    def chi2_text(self) -> str:
        """The reduced χ² and what it means for the standard errors."""
        chi = self.reduced_chi2
        if not np.isfinite(chi):
            return "reduced χ² undefined (no more observations than free parameters)"
        ratio = float(np.sqrt(chi))
        size = f"residuals ~{ratio:.3g}× the sigmas"
        if self.absolute_sigma:
            return (f"reduced χ² {chi:.4g} ({size}); standard errors take the sigmas as the "
                    "true errors (absolute sigma)")
        return (f"reduced χ² {chi:.4g} ({size}); standard errors are scaled by it (the "
                "sigmas set relative weights; --absolute-sigma takes them as true errors)")

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
            "status": self.status,
            "flags": list(self.flags),
            **({"prior_cost": float(self.prior_cost)} if self.prior_cost else {}),
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
            f"({self.message}); status: {', '.join(self.flags)}",
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
            if name in self.undetermined:
                lines.append(f"  {name:<20s} not determined")
                continue
            se_txt = f" ± {se:.3g}" if np.isfinite(se) else ""
            if name in self.at_bound:
                se_txt = f" (at {self.at_bound[name]} bound)"
            lines.append(f"  {name:<20s} {value:.8g}{se_txt} {unit}")
        for c in self.determined_combinations:
            se = f" ± {c['stderr']:.3g}" if np.isfinite(c["stderr"]) else ""
            lines.append(f"  {c['name']:<20s} {c['value']:.8g}{se} {c['unit']}  "
                         f"(= {c['formula']})")
        lines.append(f"  {self.chi2_text()}")
        lines += [f"  warning: {w}" for w in self.warnings]
        lines += [f"  note: {w}" for w in self.notes]
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
    notes = []
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
    n_priors = getattr(problem, "n_priors", 0)
    absolute = bool(getattr(problem, "absolute_sigma", False))
    reduced = 2.0 * cost / (m - n) if m > n else float("nan")

    # values on their bounds: their standard errors mean nothing (the bound, not the data,
    # holds them), so the covariance is that of the others with these held at the bound
    at_bound = {}
    for k, nm in enumerate(names):
        lo, hi, v = problem.lower[k], problem.upper[k], x[k]
        if not np.isfinite(v):
            continue
        width = hi - lo if np.isfinite(hi - lo) else max(1.0, abs(v))
        unit = spec[nm].unit
        if np.isfinite(lo) and v - lo <= _BOUND_RTOL * width:
            at_bound[nm] = "lower"
            warn.append(f"{nm} = {v:.6g} {unit} is at its lower bound")
        elif np.isfinite(hi) and hi - v <= _BOUND_RTOL * width:
            at_bound[nm] = "upper"
            warn.append(f"{nm} = {v:.6g} {unit} is at its upper bound")
    active = np.array([nm not in at_bound for nm in names], dtype=bool)

    cov = corr = None
    stderr = {nm: float("nan") for nm in names}
    rank, cond = 0, float("inf")
    under_reasons, remedy_flags = [], set()
    undetermined = []
    combos = []
    if np.all(np.isfinite(x)):
        keep = problem.w > 0
        jw = (problem.sw[:, None] * model.jacobian(x))[keep]
        # the information the fit has on the free parameters off their bounds: the data
        # (divided by the reduced χ² unless the sigmas are absolute) and the priors
        c_scale = 1.0
        rescale = not absolute and not n_priors  # Cov = s²(JᵀW̃J)⁻¹, the default
        if not rescale:
            if m > n and reduced > 0 and not absolute:
                c_scale = reduced
            elif not absolute:
                notes.append(
                    "reduced χ² undefined or zero (no more observations than free "
                    "parameters, or an exact fit): standard errors take the sigmas as true "
                    "uncertainties, as with absolute_sigma")
            jw = jw / np.sqrt(c_scale) if c_scale != 1.0 else jw
            if n_priors:
                jw = np.vstack([jw, problem.prior_jac()])
        jw_all = jw
        if not active.all():  # (indexing would change the memory layout, hence the bits)
            jw = jw[:, active]
        na = int(active.sum())
        sub = [nm for nm, a in zip(names, active) if a]
        if na:
            norms, s, vt = _scaled_svd(jw)
            tol = s.max() * max(jw.shape) * np.finfo(float).eps if s.size else 0.0
            rank = int(np.sum(s > tol))
            cond = float(s.max() / s.min()) if s.size and s.min() > 0 else float("inf")
        else:
            norms = s = vt = None
        if na and rank < na:
            # parameters with weight in the (near) null space
            null = np.abs(vt[rank:]).max(axis=0)
            undetermined = [sub[k] for k in np.flatnonzero(null > 0.02)]
            combos = _determined_combinations(problem, x, jw_all, active, rank, rescale,
                                              internal)
            if combos:
                remedy_flags.add("combinations")
                under_reasons.append(
                    "only the pair values " + ", ".join(
                        f"{c['name']} = {c['formula']}" for c in combos)
                    + " are determined by these data (no structure has a pair that tells the "
                    "elements apart): the individual element values are one arbitrary point "
                    "of a continuum")
            else:
                remedy_flags.add("rank")
                under_reasons.append(
                    f"the Jacobian has rank {rank} < {na} free parameters: "
                    f"{', '.join(undetermined) or 'some parameters'} cannot be determined "
                    "independently"
                )
        elif na and (m > n or not rescale):
            inv = (vt.T / s**2) @ vt  # (J_s^T J_s)^-1 (rank == n here, so vt is n × n)
            if rescale:
                s2 = 2.0 * internal / (m - n)
                cov_a = s2 * inv / np.outer(norms, norms)
            else:  # the relative weights carry 1/scale: back to the true weights
                cov_a = inv / np.outer(norms, norms) / problem.scale
            sd = np.sqrt(np.diag(cov_a))
            with np.errstate(invalid="ignore", divide="ignore"):
                corr_a = cov_a / np.outer(sd, sd) if np.all(sd > 0) else None
            if corr_a is None:  # an exact fit (s² = 0): correlations from the curvature alone
                d = np.sqrt(np.diag(inv))
                corr_a = inv / np.outer(d, d)
            if active.all():
                cov, corr = cov_a, corr_a
            else:
                idx = np.flatnonzero(active)
                cov = np.full((n, n), np.nan)
                corr = np.full((n, n), np.nan)
                cov[np.ix_(idx, idx)] = cov_a
                corr[np.ix_(idx, idx)] = corr_a
            stderr.update(zip(sub, map(float, sd)))
            for a, b in zip(*np.triu_indices(na, 1)):
                if abs(corr_a[a, b]) > CORRELATION_LIMIT:
                    notes.append(
                        f"{sub[a]} and {sub[b]} correlated at r = {corr_a[a, b]:.4f}: both "
                        "are determined (the standard errors include the correlation), "
                        "their combination better than each")
            loose = _loose_parameters(problem, x, stderr)
            if loose:
                remedy_flags.add("loose")
                undetermined = [nm for nm, _ in loose]
                under_reasons.append(
                    "standard errors exceed the parameters' magnitude: " + ", ".join(
                        f"{nm} ± {stderr[nm]:.3g} {spec[nm].unit} (scale {ref:.3g})"
                        for nm, ref in loose))
    if n >= m and not n_priors:
        what = "structures" if m == problem.model.n_structures else "observations"
        remedy_flags.add("few")
        under_reasons.insert(
            0, f"{n} free parameters but only {m} {what}: the data cannot determine them"
        )
        if not undetermined:
            undetermined = list(names)
    underdetermined = bool(under_reasons)
    if underdetermined:
        remedy = _remedy(model, remedy_flags, undetermined or names, combos)
        warn.append("underdetermined: " + "; ".join(under_reasons) + f". Remedy: {remedy}.")
        if n_priors:
            notes.append("the Gaussian priors on " + ", ".join(problem.priors)
                         + " hold some parameters the data do not determine")
    if absolute and m > n and np.isfinite(reduced):
        lo, hi = chi2_interval(m - n)
        if not lo <= reduced <= hi:
            warn.append(
                f"reduced χ² = {reduced:.3g} with {m - n} degrees of freedom is outside its "
                f"99 % range [{lo:.3g}, {hi:.3g}] for sigmas that are the true errors: the "
                + ("residuals are larger than the sigmas (sigmas too small, or the model "
                   "misses physics), so the absolute standard errors are too small"
                   if reduced > hi else
                   "residuals are smaller than the sigmas (sigmas too large), so the "
                   "absolute standard errors are too large"))
    undetermined = [nm for nm in names if nm in set(undetermined)]
    result = FitResult(
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
        reduced_chi2=reduced,
        notes=notes,
        at_bound=at_bound,
        undetermined=undetermined if underdetermined else [],
        determined_combinations=combos,
        prior_cost=problem.prior_cost(x) if n_priors and np.all(np.isfinite(x)) else 0.0,
        absolute_sigma=absolute,
    )
    if result.r2 < 0:
        result.warnings.append(POOR_FIT_HINT.format(r2=result.r2))
    return result


#: What a fit worse than the mean energy usually means (``poor fit``).
POOR_FIT_HINT = (
    "poor fit: R² = {r2:.3g} < 0, the model is worse than the mean energy, so its "
    "parameters and their (small) standard errors mean little; check the reference energies "
    "(interaction or total energies, --groups; units, --energy-unit), the cutoff (--cutoff) "
    "and whether an offset is needed (--offset)"
)


def chi2_interval(dof: int, level: float = 0.99) -> tuple:
    """The central ``level`` interval of the reduced χ² (χ²/dof) with ``dof`` degrees of
    freedom, for residuals whose sigmas are their true errors."""
    from scipy.stats import chi2

    a = (1.0 - level) / 2.0
    return float(chi2.ppf(a, dof) / dof), float(chi2.ppf(1.0 - a, dof) / dof)


def _loose_parameters(problem, x, stderr) -> list:
    """[(name, scale)] of parameters without a prior whose standard error exceeds their
    scale: |value| for ε and σ; for an offset or e0 the width of its bounds, or else the
    spread of the reference energies."""
    spec = problem.model.spec
    span = float(np.ptp(problem.energies)) if len(problem.energies) else 0.0
    out = []
    for k, nm in enumerate(spec.free_names):
        se = stderr.get(nm, np.nan)
        if not np.isfinite(se) or nm in getattr(problem, "priors", {}):
            continue  # (a prior bounds its uncertainty by the width the user stated)
        if spec[nm].kind in ("epsilon", "sigma"):
            ref = abs(x[k])
        else:
            width = problem.upper[k] - problem.lower[k]
            ref = width if np.isfinite(width) else span
        if ref > 0 and se > ref:
            out.append((nm, float(ref)))
    return out


def _structural_degeneracy(model) -> bool:
    """Per-element parameters that the pairs present cannot tell apart: the mixing rule's
    map from element values to the pair values that occur is not injective (e.g. Cu on Au
    with only Au–Cu pairs: √(ε_Au ε_Cu) and (σ_Au + σ_Cu)/2 only)."""
    if model.scope != "per-element":
        return False
    elements = model.elements
    col = {e: k for k, e in enumerate(elements)}
    rows = np.zeros((model.features.n_slots, len(elements)))
    for r, (a, b) in enumerate(model.features.slots):
        rows[r, col[a]] += 0.5
        rows[r, col[b]] += 0.5
    return int(np.linalg.matrix_rank(rows)) < len(elements)


def _determined_combinations(problem, x, jw_all, active, rank, rescale, internal) -> list:
    """For a structurally degenerate per-element fit, the pair values the data do determine
    (ε_ab, σ_ab of every pair type present) with standard errors by the delta method on
    the pseudo-inverse of the information (valid for these estimable combinations)."""
    model = problem.model
    if not _structural_degeneracy(model):
        return []
    spec = model.spec
    p = spec.full(x)
    eps, sig = model.slot_parameters(x)
    d_eps, d_sig = model._mixing_derivatives(p)  # noqa: SLF001 (∂ε_k/∂p, ∂σ_k/∂p)
    g = np.vstack([d_eps, d_sig])[:, spec.free][:, active]
    j = jw_all[:, active]
    norms = np.linalg.norm(j, axis=0)
    norms = np.where(norms > 0, norms, 1.0)
    pinv = np.linalg.pinv((j / norms).T @ (j / norms), hermitian=True,
                          rcond=1e-12) / np.outer(norms, norms)
    m = problem.n_data
    dof = m - rank
    if rescale:
        scale = (2.0 * internal / dof) if dof > 0 else float("nan")
        cov = scale * g @ pinv @ g.T
    else:
        cov = g @ pinv @ g.T / problem.scale
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    rule = model.mixing
    out = []
    k = len(eps)
    for i, (a, b) in enumerate(model.features.slots):
        label = f"{a}-{b}"
        if rule == "lorentz-berthelot":
            sform = f"(sigma[{a}] + sigma[{b}])/2" if a != b else f"sigma[{a}]"
        else:
            sform = f"sqrt(sigma[{a}]*sigma[{b}])" if a != b else f"sigma[{a}]"
        eform = f"sqrt(epsilon[{a}]*epsilon[{b}])" if a != b else f"epsilon[{a}]"
        out.append({"name": f"epsilon[{label}]", "formula": eform, "value": float(eps[i]),
                    "stderr": float(se[i]), "unit": "eV"})
        out.append({"name": f"sigma[{label}]", "formula": sform, "value": float(sig[i]),
                    "stderr": float(se[k + i]), "unit": "Å"})
    return out


def _remedy(model, flags, involved, combos) -> str:
    """Remedies that fit the case (see :func:`diagnose`)."""
    out = []
    first = involved[0] if involved else model.spec.free_names[0]
    unit = model.spec[first].unit
    if "combinations" in flags:
        elems = sorted({e for slot in model.features.slots for e in slot})
        absent = [f"{e}-{e}" for e in elems]
        out.append(f"fix one element's values (--fix), or add structures with other pair "
                   f"types (e.g. {', '.join(absent[:3])}): more structures with the same "
                   "pairs cannot separate the elements")
        if model.features.n_slots < len(model.elements):
            out.append("or --scope per-pair, which fits exactly these pair values")
    elif "few" in flags:
        out.append("add structures")
    elif "rank" in flags:
        out.append(f"add structures in which {', '.join(involved[:4])} contribute "
                   "differently (other distances or pair types)")
    elif "loose" in flags:
        out.append(f"add structures that probe {', '.join(involved[:4])} (the repulsive "
                   "wall and the well)")
    if "combinations" not in flags:
        out.append("fix some parameters (--fix)")
    out.append(f"a Gaussian prior with a width from independent knowledge, e.g. "
               f"--prior '{first}=VALUE±WIDTH' (in {unit}; priors={{'{first}': "
               "(value, width)} in Python)")
    coarser = _coarser_scope(model)
    if coarser:
        out.append(coarser)
    return "; ".join(out)


def _coarser_scope(model) -> str:
    """A coarser scope with fewer free parameters, if one exists."""
    f = model.features
    if model.scope == "per-site":
        site_elements = [e for e in (f.site_elements or []) if "/" not in e]
        if site_elements and len(set(site_elements)) < f.n_slots:
            return (f"or a coarser scope (per-pair: the {f.n_slots} sites hold only "
                    f"{len(set(site_elements))} elements)")
        return ""
    if model.scope == "per-pair":
        n_el = len(model.elements)
        if n_el < f.n_slots:
            return (f"or a coarser scope (per-element with a mixing rule: {n_el} elements "
                    f"for {f.n_slots} pair types)")
    return ""


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
