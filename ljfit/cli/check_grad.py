"""``ljfit check-grad``: analytic against finite-difference Jacobian."""

from __future__ import annotations

from ..errors import FitError
from .common import _build_model, _Captured, _emit_warnings, _plan, _read, _reading_options

# ----------------------------------------------------------------------------------------
# check-grad
# ----------------------------------------------------------------------------------------


#: typical size of each kind of parameter: the floor of the finite-difference step scale
_FD_TYPICAL = {"epsilon": 1e-4, "sigma": 1.0, "offset": 1.0, "e0": 1.0}


def _fd_jacobian(model, x, rel=1e-6):
    """Central differences of every observable (``model.predict``: energies, force and
    stress rows) with steps h_j = rel·max(|x_j|, typical)."""
    import numpy as np

    x = np.asarray(x, dtype=float)
    jac = np.empty((model.n_observations, len(x)))
    for j, kind in enumerate(model.spec.kinds):
        h = rel * max(abs(x[j]), _FD_TYPICAL[kind])
        xp, xm = x.copy(), x.copy()
        xp[j] += h
        xm[j] -= h
        jac[:, j] = (model.predict(xp) - model.predict(xm)) / (2 * h)
    return jac


def _random_point(problem, x_start, rng, spread=0.2):
    """A seeded random point in the bounds near ``x_start``: ε and σ scaled by
    exp(U(−spread, spread)), the offset moved by U(−spread, spread)·max(|offset|, 10 meV).
    Near rather than anywhere in the bounds: at a point like σ = 6 Å the energies reach
    10³–10⁴ eV and central differences drown in round-off (not the Jacobian's fault)."""
    import numpy as np

    from ..fitting.local import _inside

    kinds = problem.model.spec.kinds
    u = rng.uniform(-spread, spread, size=len(x_start))
    x = np.array(x_start, dtype=float)
    for j, kind in enumerate(kinds):
        if kind in ("offset", "e0"):
            x[j] = x[j] + u[j] * max(abs(x[j]), 0.01)
        else:
            x[j] = x[j] * np.exp(u[j])
    return _inside(problem, x)


def _relative_error(ja, jf):
    """Per column: max |analytic − FD| / max(|analytic|, |FD|) (0 for a zero column)."""
    import numpy as np

    scale = np.maximum(np.abs(ja).max(axis=0), np.abs(jf).max(axis=0))
    diff = np.abs(ja - jf).max(axis=0)
    return np.where(scale > 0, diff / np.where(scale > 0, scale, 1.0), 0.0)


def cmd_check_grad(args) -> int:
    import numpy as np

    from ..fitting import Problem, Targets, starting_point

    read_opts = _reading_options(args)
    with _Captured() as captured:
        ds = _read(args.path, read_opts, require_energies=False)
        model = _build_model(ds, args, fit_plan=_plan(ds, args))
        if model.n_free == 0:
            raise FitError("every parameter is fixed: no Jacobian to check")
        complete = ds.has_energies
        if complete:
            targets = Targets.from_dataset(ds, model)
        else:  # no references: only the bounds and the spec's values are used
            n = model.n_observations
            targets = Targets(np.zeros(n), np.ones(n), np.ones(n))
        problem = Problem(model, targets=targets)
        if complete:
            x_start, how = starting_point(problem)
        else:
            x_start, how = model.spec.x0, "spec values"
        seed = 0 if args.seed is None else args.seed
        x_rand = _random_point(problem, x_start, np.random.default_rng(seed))
        points = [(f"starting point ({how})", x_start),
                  (f"random point near it, in the bounds (seed {seed})", x_rand)]
        names = model.spec.free_names
        slices = model.row_slices()
        worst = 0.0
        lines = []
        for label, x in points:
            ja, jf = model.jacobian(x), _fd_jacobian(model, x)
            parts, here = [], 0.0
            for kind in model.observables:
                sl = slices[kind]
                err = _relative_error(ja[sl], jf[sl])
                k = int(np.argmax(err))
                here = max(here, float(err[k]))
                parts.append(f"{kind} {err[k]:.3e}, worst {names[k]}")
            worst = max(worst, here)
            lines.append(f"{label}: max relative error: {here:.3e} ({'; '.join(parts)})")
    _emit_warnings(captured.messages, args.quiet)
    if not args.quiet:
        rows = model.n_rows
        label = {"energy": "energy", "forces": "force", "stress": "stress"}
        what = ", ".join(f"{rows[k]} {label[k]} rows" for k in model.observables)
        print(f"analytic vs central finite-difference Jacobian, {len(ds)} structures "
              f"({what}), {model.n_free} free parameters ({model.scope} "
              f"{model.potential.name})")
        for line in lines:
            print(line)
    print(f"max relative error: {worst:.3e}")
    return 0
