"""Figures of a fit: parity, residuals, fitted pair potentials, parameter correlations and
cost profiles.

Every function draws into the Axes (or Figure) it is given, or into a new one, and returns
it; a new figure gets fixed margins sized (in inches) for what the function draws there (the
tick labels, axis labels, title, a legend below the axes): matplotlib's constrained layout
measures every text twice and took a third of ``ljfit fit``'s run on the example data; nothing is shown or saved here (the command line saves
the figures of a results folder with :func:`save`). Energies are in eV (residuals in meV),
distances in Å. Matplotlib is imported lazily; choose a backend (``matplotlib.use("Agg")``)
before calling these in a script without a display.

>>> ax = parity(reference=y, predictions={"linear": e_lin, "least_squares": e_ls})  # doctest: +SKIP
>>> ax.figure.savefig("parity.png")                                                # doctest: +SKIP
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

__all__ = ["parity", "parity_forces", "residuals", "potentials", "correlation", "profiles",
           "save"]

#: Above this many points a parity plot of forces is a 2-D histogram (hexbin), not markers.
DENSITY_POINTS = 10_000

#: Markers and sizes per method: hollow markers of decreasing size, so that methods that
#: agree (the usual case) stay visible on top of each other.
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">")


def _new_axes(ax, figsize=(5.4, 5.0), margins=(0.85, 0.2, 0.6, 0.4)):
    """``ax``, or the Axes of a new figure of ``figsize`` (inches) with ``margins``."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=figsize)
    _set_margins(fig, *margins)
    return ax


def _set_margins(fig, left, right, bottom, top, wspace=None, hspace=None) -> None:
    """Subplot margins in inches (gaps ``wspace``, ``hspace`` between panels too), where the
    subplot parameters take fractions of the figure (and of the mean panel size)."""
    w, h = fig.get_size_inches()
    kw = {}
    if wspace is not None or hspace is not None:
        ncols, nrows = _grid_shape(fig)
        pw = (w - left - right - (ncols - 1) * (wspace or 0.0)) / ncols
        ph = (h - bottom - top - (nrows - 1) * (hspace or 0.0)) / nrows
        kw = {"wspace": (wspace or 0.0) / pw, "hspace": (hspace or 0.0) / ph}
    fig.subplots_adjust(left=left / w, right=1 - right / w, bottom=bottom / h, top=1 - top / h,
                        **kw)


def _grid_shape(fig) -> tuple:
    """(columns, rows) of the figure's subplot grid ((1, 1) without one)."""
    for ax in fig.axes:
        spec = ax.get_subplotspec()
        if spec is not None:
            nrows, ncols = spec.get_gridspec().get_geometry()
            return ncols, nrows
    return 1, 1


def _text_inches(text: str, size_pt: float = 10.0) -> float:
    """The width of ``text`` in inches at ``size_pt``, generously (DejaVu Sans averages
    ~0.6 em per character; brackets and capitals are wider)."""
    return 0.65 * size_pt / 72.0 * len(text)


def _square(ax, lo, hi, what: str, title: str) -> None:
    """Equal axes over [lo, hi], labelled reference / predicted ``what``, with a grid."""
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel(f"reference {what}")
    ax.set_ylabel(f"predicted {what}")
    ax.set_title(title)
    ax.grid(True, color="0.9", lw=0.6, zorder=0)


def _style(k: int):
    import matplotlib.pyplot as plt

    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {
        "marker": _MARKERS[k % len(_MARKERS)],
        "s": max(70 - 14 * k, 16),
        "facecolors": "none",
        "edgecolors": colors[k % len(colors)],
        "linewidths": 1.3,
    }


def _finite(a):
    a = np.asarray(a, dtype=float)
    return a[np.isfinite(a)]


def _stats(reference, predicted):
    ok = np.isfinite(reference) & np.isfinite(predicted)
    if not ok.any():
        return float("nan"), float("nan")
    res = predicted[ok] - reference[ok]
    rmse = float(np.sqrt(np.mean(res**2)))
    ss_tot = float(np.sum((reference[ok] - reference[ok].mean()) ** 2))
    r2 = 1.0 - float(np.sum(res**2)) / ss_tot if ss_tot > 0 else float("nan")
    return rmse, r2


def _fmt_meV(value_eV: float) -> str:
    return "n/a" if not np.isfinite(value_eV) else f"{1000 * value_eV:.3g} meV"


def parity(ax=None, *, reference, predictions: Mapping[str, np.ndarray], title=None,
           unit: str = "eV"):
    """Predicted against reference energies, one marker style per method.

    Parameters
    ----------
    ax : matplotlib Axes, optional
    reference : array_like, shape (n_structures,)
        Reference energies (``unit``).
    predictions : dict of str to array_like, shape (n_structures,)
        Model energies per method (``unit``), in legend order.
    title : str, optional
    unit : str
        Energy unit shown in the axis labels.

    Returns
    -------
    matplotlib Axes
        With the y = x line, RMSE and R² per method in the legend, equal axes.
    """
    ax = _new_axes(ax)
    y = np.asarray(reference, dtype=float)
    values = [_finite(y)]
    for k, (method, pred) in enumerate(predictions.items()):
        p = np.asarray(pred, dtype=float)
        rmse, r2 = _stats(y, p)
        r2_txt = "n/a" if not np.isfinite(r2) else f"{r2:.4f}"
        ax.scatter(y, p, label=f"{method}: RMSE {_fmt_meV(rmse)}, R² {r2_txt}",
                   zorder=3 + k, **_style(k))
        values.append(_finite(p))
    allv = np.concatenate(values) if values else np.zeros(0)
    if allv.size:
        lo, hi = float(allv.min()), float(allv.max())
    else:
        lo, hi = 0.0, 1.0
    pad = 0.05 * (hi - lo) if hi > lo else max(abs(hi), 1.0) * 0.05
    lo, hi = lo - pad, hi + pad
    ax.plot([lo, hi], [lo, hi], color="0.35", lw=1.0, ls="--", zorder=1, label="y = x")
    _square(ax, lo, hi, f"energy ({unit})", title or "parity")
    ax.legend(loc="upper left", fontsize="small", framealpha=0.9)
    return ax


def parity_forces(ax=None, *, reference, predicted, method="", title=None,
                  unit: str = "eV/Å", density: bool | None = None):
    """Predicted against reference force components of one method.

    Parameters
    ----------
    ax : matplotlib Axes, optional
    reference, predicted : array_like, shape (n_components,)
        Force components (``unit``).
    method : str
        Named in the legend.
    title : str, optional
    unit : str
    density : bool, optional
        Draw a hexbin density (log colour scale) instead of markers; default: when there are
        more than :data:`DENSITY_POINTS` components (markers would hide one another, and
        draw slowly).

    Returns
    -------
    matplotlib Axes
        With the y = x line, RMSE and MAE in the legend, equal axes.
    """
    n_finite = int(np.count_nonzero(np.isfinite(np.asarray(reference, dtype=float))
                                    & np.isfinite(np.asarray(predicted, dtype=float))))
    dense = n_finite > DENSITY_POINTS if density is None else density
    # the colour bar takes its room from the axes; its labels need a wider right margin
    ax = _new_axes(ax, figsize=(6.2, 5.0), margins=(0.85, 1.0 if dense else 0.2, 0.6, 0.4))
    y = np.asarray(reference, dtype=float)
    p = np.asarray(predicted, dtype=float)
    ok = np.isfinite(y) & np.isfinite(p)
    y, p = y[ok], p[ok]
    res = p - y
    rmse = float(np.sqrt(np.mean(res**2))) if res.size else float("nan")
    mae = float(np.mean(np.abs(res))) if res.size else float("nan")
    allv = np.concatenate([y, p]) if y.size else np.zeros(1)
    lo, hi = float(allv.min()), float(allv.max())
    pad = 0.05 * (hi - lo) if hi > lo else 1.0
    lo, hi = lo - pad, hi + pad
    if dense and y.size:
        hb = ax.hexbin(y, p, gridsize=120, bins="log", mincnt=1, cmap="viridis",
                       extent=(lo, hi, lo, hi), zorder=2)
        ax.figure.colorbar(hb, ax=ax, label="components per bin", fraction=0.046, pad=0.03)
    else:
        ax.scatter(y, p, zorder=3, **_style(0))
    ax.plot([lo, hi], [lo, hi], color="0.35", lw=1.0, ls="--", zorder=3)
    stats = (f"{method}\n" if method else "") + (
        f"RMSE {rmse:.3g} {unit}\nMAE {mae:.3g} {unit}\n{y.size} components")
    ax.text(0.03, 0.97, stats, transform=ax.transAxes, va="top", ha="left",
            fontsize="small", bbox={"boxstyle": "round", "fc": "white", "ec": "0.7",
                                    "alpha": 0.9}, zorder=4)
    _square(ax, lo, hi, f"force component ({unit})", title or "force parity")
    return ax


def residuals(ax=None, *, reference, predictions: Mapping[str, np.ndarray], title=None):
    """Residuals E_pred − E_ref (meV) against the reference energy (eV), per method.

    Parameters
    ----------
    ax : matplotlib Axes, optional
    reference : array_like, shape (n_structures,)
        eV.
    predictions : dict of str to array_like, shape (n_structures,)
        eV, per method.
    title : str, optional

    Returns
    -------
    matplotlib Axes
    """
    # two legend columns below the axes when two labels fit side by side (~28 characters)
    longest = max((len(m) for m in predictions), default=0) + len(": RMSE 0.000 meV")
    ncol = 2 if _text_inches("x" * longest, 8.3) + 0.5 < 6.4 / 2 else 1
    legend_rows = -(-len(predictions) // ncol)
    ax = _new_axes(ax, figsize=(6.4, 4.8 + 0.2 * legend_rows),
                   margins=(0.85, 0.2, 0.75 + 0.22 * legend_rows, 0.4))
    y = np.asarray(reference, dtype=float)
    for k, (method, pred) in enumerate(predictions.items()):
        res = 1000.0 * (np.asarray(pred, dtype=float) - y)
        rmse, _ = _stats(y, np.asarray(pred, dtype=float))
        ax.scatter(y, res, label=f"{method}: RMSE {_fmt_meV(rmse)}", zorder=3 + k, **_style(k))
    ax.axhline(0.0, color="0.35", lw=1.0, ls="--", zorder=1)
    ax.set_xlabel("reference energy (eV)")
    ax.set_ylabel("residual $E_\\mathrm{pred} - E_\\mathrm{ref}$ (meV)")
    ax.set_title(title or "residuals")
    ax.grid(True, color="0.9", lw=0.6, zorder=0)
    if predictions:  # below the axes: residuals fill the whole plot
        # below the x label: 0.5 in under the axes, in axes coordinates
        below = -0.5 / max(ax.get_position().height * ax.figure.get_size_inches()[1], 0.5)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, below), ncol=ncol,
                  fontsize="small", frameon=False)
    return ax


def potentials(model, x, ax=None, *, title=None):
    """The fitted pair curves φ(r) of every slot (element pair or site).

    Parameters
    ----------
    model : LJModel
    x : ndarray, shape (n_free,), or dict
        Free parameters (or name → value); slots with undefined (nan) parameters are
        listed in the legend as undefined and not drawn.
    ax : matplotlib Axes, optional
    title : str, optional

    Returns
    -------
    matplotlib Axes
        φ in eV against r in Å, the minimum r_min = (n/m)^(1/(n−m)) σ marked on each curve,
        the y range from −1.3 max ε to +max ε, the cutoff drawn when there is one.
    """
    from .potentials import cut

    pairs = model.pair_parameters(x)
    ncol = 2 if len(pairs) < 12 else 3
    rows = 0 if len(pairs) <= 4 else int(np.ceil((len(pairs) + 3) / ncol))
    ax = _new_axes(ax, figsize=(6.4 if ncol == 2 else 9.0, 4.4 + 0.22 * rows),
                   margins=(0.85, 0.2, 0.6 + (0.2 + 0.2 * rows if rows else 0.0), 0.4))
    pot = model.potential
    energy, _ = cut(pot, model.cutoff, model.shift)
    good = {k: v for k, v in pairs.items() if np.isfinite(v[0]) and np.isfinite(v[1]) and v[1] > 0}
    if good:
        sig = np.array([s for _, s in good.values()])
        eps = np.array([e for e, _ in good.values()])
        r_lo = 0.85 * float(sig.min())
        r_hi = max(2.6 * float(sig.max()), pot.rmin_over_sigma * float(sig.max()) + 2.0)
        if model.cutoff is not None:
            r_hi = min(max(r_hi, float(model.cutoff) * 1.08), 4.0 * float(sig.max()))
        r = np.linspace(r_lo, r_hi, 600)
        emax = float(eps.max()) if eps.max() > 0 else 1e-3
        import matplotlib.pyplot as plt

        cmap = plt.get_cmap("tab10" if len(good) <= 10 else "viridis")
        prefix = "site " if model.scope == "per-site" else ""
        for k, (label, (e, s)) in enumerate(good.items()):
            color = cmap(k % 10) if len(good) <= 10 else cmap(k / max(len(good) - 1, 1))
            phi = energy(r, e, s)
            rmin = pot.rmin_over_sigma * s
            ax.plot(r, phi, color=color, lw=1.6,
                    label=f"{prefix}{label}: ε = {1000 * e:.4g} meV, σ = {s:.3f} Å")
            ax.plot([rmin], [float(energy(np.array([rmin]), e, s)[0])], "o", color=color,
                    ms=5, zorder=4)
        if model.cutoff is not None and r_lo < model.cutoff < r_hi:
            ax.axvline(model.cutoff, color="0.4", ls=":", lw=1.0,
                       label=f"cutoff {model.cutoff:g} Å" + (" (shifted)" if model.shift else ""))
        ax.set_xlim(r_lo, r_hi)
        ax.set_ylim(-1.3 * emax, 1.0 * emax)
    undefined = [k for k in pairs if k not in good]
    if undefined:
        ax.plot([], [], " ", label=f"undefined: {', '.join(undefined)}")
    ax.axhline(0.0, color="0.6", lw=0.8)
    ax.set_xlabel("distance r (Å)")
    ax.set_ylabel("pair energy φ(r) (eV)")
    kind = "LJ 12-6" if pot.is_lj else f"Mie {pot.n:g}-{pot.m:g}"
    ax.set_title(title or f"fitted {kind} pair potentials")
    ax.plot([], [], "o", color="0.3", ms=5, label="minimum (r_min, −ε)")
    ax.grid(True, color="0.92", lw=0.6)
    if len(pairs) <= 4:  # upper right: the curves are ~0 there
        ax.legend(loc="upper right", fontsize="small", framealpha=0.9)
    else:  # many slots: below the axes, never over the curves
        below = -0.5 / max(ax.get_position().height * ax.figure.get_size_inches()[1], 0.5)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, below), fontsize="small",
                  frameon=False, ncol=ncol)
    return ax


def correlation(matrix, names, ax=None, *, title=None):
    """Annotated parameter correlation matrix (colour −1 … +1).

    Parameters
    ----------
    matrix : array_like, shape (n, n)
    names : list of str, length n
    ax : matplotlib Axes, optional
    title : str, optional

    Returns
    -------
    matplotlib Axes
    """
    c = np.asarray(matrix, dtype=float)
    n = len(names)
    size = min(3.0 + 0.5 * n, 11.0)
    label = max((_text_inches(str(x)) for x in names), default=0.3)
    # y tick labels at the left; x tick labels at 45°: their width · sin 45° below; the
    # colour bar (15 % of the axes' width) and its labels at the right
    ax = _new_axes(ax, figsize=(size + 1.2 + label, size + 0.71 * label),
                   margins=(label + 0.25, 0.3, 0.71 * label + 0.3, 0.4))
    im = ax.imshow(np.where(np.isfinite(c), c, 0.0), cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xticklabels(names, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticklabels(names)
    if n <= 20:
        fontsize = 9 if n <= 8 else 7 if n <= 14 else 5.5
        for i in range(n):
            for j in range(n):
                v = c[i, j]
                txt = "n/a" if not np.isfinite(v) else f"{v:.2f}"
                ax.text(j, i, txt, ha="center", va="center", fontsize=fontsize,
                        color="white" if np.isfinite(v) and abs(v) > 0.6 else "black")
    ax.figure.colorbar(im, ax=ax, label="correlation coefficient", shrink=0.8)
    ax.set_title(title or "parameter correlations")
    return ax


def profiles(profiles_dict: Mapping, fig=None, *, title=None, threshold=None):
    """One small panel per parameter: the cost profile around the best fit.

    Parameters
    ----------
    profiles_dict : dict of str to Profile
        Objects with ``name``, ``values``, ``cost``, ``best_value``, ``best_cost``
        (as :func:`ljfit.uncertainty.profiles` returns).
    fig : matplotlib Figure, optional
        Drawn into (its existing axes are cleared).
    title : str, optional
    threshold : float, optional
        Δcost (χ²/2) drawn as a dotted line: the rise of the cost F = ½ Σ (r/σ)² that
        corresponds to one standard error -- ½ when the sigmas are true errors
        (``--absolute-sigma``), else ½ s² = F_min/(m − n) with the errors scaled by the
        reduced χ² s².

    Returns
    -------
    matplotlib Figure
        Δcost = cost − best cost (χ²/2; eV² for energies without sigmas) against each
        parameter's value.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    items = list(profiles_dict.items())
    n = max(len(items), 1)
    ncols = min(n, 3)
    nrows = int(np.ceil(n / ncols))
    new = fig is None
    if new:
        fig = plt.figure(figsize=(3.3 * ncols + 0.4, 2.6 * nrows + 0.5))
    else:
        fig.clear()
    axes = fig.subplots(nrows, ncols, squeeze=False)
    if new:  # y label and ticks at the left of each panel, x label below, a 2-line title
        # at least 5.6 in wide: the two-line title must fit over a single panel
        fig.set_size_inches(max(3.3 * ncols + 0.4, 5.6), 2.6 * nrows + 1.0)
        _set_margins(fig, 0.8, 0.15, 0.55, 0.75, wspace=0.85, hspace=0.75)
    for ax in axes.ravel()[len(items):]:
        ax.set_visible(False)
    for ax, (name, prof) in zip(axes.ravel(), items):
        values = np.asarray(prof.values, dtype=float)
        cost = np.asarray(prof.cost, dtype=float)
        best_cost = float(prof.best_cost) if prof.best_cost is not None else np.nan
        ok = np.isfinite(values) & np.isfinite(cost)
        unit = "Å" if str(name).startswith("sigma") else "eV"
        if ok.any():
            base = best_cost if np.isfinite(best_cost) else float(cost[ok].min())
            ax.plot(values[ok], cost[ok] - base, "-", color="C0", lw=1.4, marker=".", ms=4)
        best = prof.best_value
        if best is not None and np.isfinite(best):
            ax.axvline(float(best), color="C3", lw=1.0, ls="--")
        if threshold is not None and np.isfinite(threshold) and threshold > 0:
            ax.axhline(float(threshold), color="0.4", lw=1.0, ls=":")
        ax.set_xlabel(f"{name} ({unit})", fontsize="small")
        ax.set_ylabel("Δ cost (χ²/2)", fontsize="small")
        ax.tick_params(labelsize="x-small")
        ax.xaxis.set_major_locator(MaxNLocator(4))  # long values (0.01925) must not overlap
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
        ax.grid(True, color="0.92", lw=0.6)
    # the rise of one standard error: ½ with --absolute-sigma, else ½ s² (scaled errors)
    note = "dashed: best value" + (f", dotted: 1 standard error (Δcost = {threshold:.3g})"
                                   if threshold is not None and np.isfinite(threshold)
                                   and threshold > 0 else "")
    fig.suptitle(f"{title or 'cost profiles'}\n({note})", fontsize="medium")
    return fig


def save(fig_or_ax, path, dpi: int = 120) -> None:
    """Save a figure (or the figure of an Axes) as PNG, reproducibly, and close it."""
    import matplotlib.pyplot as plt

    fig = getattr(fig_or_ax, "figure", fig_or_ax)
    if isinstance(fig_or_ax, np.ndarray):
        fig = fig_or_ax.ravel()[0].figure
    fig.savefig(path, dpi=dpi, metadata={"Software": None})
    plt.close(fig)
