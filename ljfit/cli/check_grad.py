"""``ljfit check-grad``: analytic against finite-difference Jacobian."""

from __future__ import annotations

from ..errors import FitError
from .common import _build_model, _Captured, _emit_warnings, _read, _reading_options

# ----------------------------------------------------------------------------------------
# check-grad
# ----------------------------------------------------------------------------------------


#: typical size of each kind of parameter: the floor of the finite-difference step scale
_FD_TYPICAL = {"epsilon": 1e-4, "sigma": 1.0, "offset": 1.0}


def _fd_jacobian(model, x, rel=1e-6):
    """Central differences of ``model.energies`` with steps h_j = rel·max(|x_j|, typical)."""
    import numpy as np

    x = np.asarray(x, dtype=float)
    jac = np.empty((model.n_structures, len(x)))
    for j, kind in enumerate(model.spec.kinds):
        h = rel * max(abs(x[j]), _FD_TYPICAL[kind])
        xp, xm = x.copy(), x.copy()
        xp[j] += h
        xm[j] -= h
        jac[:, j] = (model.energies(xp) - model.energies(xm)) / (2 * h)
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
        if kind == "offset":
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

    from ..fitting import Problem, starting_point

    read_opts = _reading_options(args)
    with _Captured() as captured:
        ds = _read(args.path, read_opts, require_energies=False)
        model = _build_model(ds, args)
        if model.n_free == 0:
            raise FitError("every parameter is fixed: no Jacobian to check")
        energies = ds.energies if ds.has_energies else np.zeros(len(ds))
        problem = Problem(model, energies, ds.weights if ds.has_energies else None)
        if ds.has_energies:
            x_start, how = starting_point(problem)
        else:
            x_start, how = model.spec.x0, "spec values"
        seed = 0 if args.seed is None else args.seed
        x_rand = _random_point(problem, x_start, np.random.default_rng(seed))
        points = [(f"starting point ({how})", x_start),
                  (f"random point near it, in the bounds (seed {seed})", x_rand)]
        names = model.spec.free_names
        worst = 0.0
        lines = []
        for label, x in points:
            err = _relative_error(model.jacobian(x), _fd_jacobian(model, x))
            k = int(np.argmax(err))
            worst = max(worst, float(err[k]))
            lines.append(f"{label}: max relative error: {err[k]:.3e} (worst: {names[k]})")
    _emit_warnings(captured.messages, args.quiet)
    if not args.quiet:
        print(f"analytic vs central finite-difference Jacobian, {len(ds)} structures, "
              f"{model.n_free} free parameters ({model.scope} {model.potential.name})")
        for line in lines:
            print(line)
    print(f"max relative error: {worst:.3e}")
    return 0
