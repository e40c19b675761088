"""Figures of ljfit.plots: every function draws into a given Axes (or a new one), returns it,
labels its axes with units, and copes with undefined values."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from types import SimpleNamespace  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ljfit import LJModel, fit, plots  # noqa: E402
from ljfit.uncertainty import Profile  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def fitted(request):
    ds = request.getfixturevalue("adsorbate_dataset")
    model = LJModel(ds, scope="per-pair")
    return ds, model, fit(model, ds, "linear")


def _legend_texts(ax):
    leg = ax.get_legend()
    assert leg is not None
    return [t.get_text() for t in leg.get_texts()]


def test_parity_new_axes_equal_limits_and_legend(fitted):
    ds, _, res = fitted
    preds = {"linear": res.predictions, "least_squares": res.predictions + 1e-3}
    ax = plots.parity(reference=ds.energies, predictions=preds)
    assert ax.get_xlim() == ax.get_ylim()
    assert ax.get_aspect() == 1.0
    assert "(eV)" in ax.get_xlabel() and "(eV)" in ax.get_ylabel()
    texts = _legend_texts(ax)
    assert any(t.startswith("linear") and "RMSE" in t and "R²" in t for t in texts)
    assert any("y = x" in t for t in texts)


def test_parity_into_given_axes_and_nan(fitted):
    ds, _, res = fitted
    fig, axes = plt.subplots(1, 2)
    pred = res.predictions.copy()
    pred[0] = np.nan
    ax = plots.parity(axes[1], reference=ds.energies, predictions={"m": pred})
    assert ax is axes[1]
    assert np.all(np.isfinite(ax.get_xlim()))


def test_residuals_in_meV(fitted):
    ds, _, res = fitted
    ax = plots.residuals(reference=ds.energies, predictions={"linear": res.predictions})
    assert "meV" in ax.get_ylabel() and "eV" in ax.get_xlabel()
    offsets = ax.collections[0].get_offsets()
    np.testing.assert_allclose(offsets[:, 1], 1000 * (res.predictions - ds.energies))
    assert any("RMSE" in t for t in _legend_texts(ax))


def test_potentials_curves_minima_and_range(fitted):
    _, model, res = fitted
    ax = plots.potentials(model, res.x)
    eps_max = max(e for e, _ in model.pair_parameters(res.x).values())
    lo, hi = ax.get_ylim()
    assert lo == pytest.approx(-1.3 * eps_max) and hi == pytest.approx(eps_max)
    assert "Å" in ax.get_xlabel() and "eV" in ax.get_ylabel()
    labels = _legend_texts(ax)
    for slot in model.features.labels:
        assert any(t.startswith(slot) for t in labels)
    # each curve's minimum is marked at (r_min, −ε)
    for slot, (e, s) in model.pair_parameters(res.x).items():
        rmin = model.potential.rmin_over_sigma * s
        marks = [ln for ln in ax.lines if len(ln.get_xdata()) == 1
                 and np.isclose(ln.get_xdata()[0], rmin)]
        assert marks and np.isclose(marks[0].get_ydata()[0], -e)


def test_potentials_undefined_slot_listed(fitted):
    _, model, res = fitted
    x = res.x.copy()
    x[0] = np.nan  # epsilon of the first slot
    ax = plots.potentials(model, x)
    assert any(t.startswith("undefined") for t in _legend_texts(ax))


def test_potentials_cutoff_drawn(adsorbate_dataset):
    model = LJModel(adsorbate_dataset, cutoff=6.0, shift=True)
    res = fit(model, adsorbate_dataset, "linear")
    ax = plots.potentials(model, res.x)
    assert any("cutoff 6 Å" in t for t in _legend_texts(ax))


def test_correlation_annotated(fitted):
    _, _, res = fitted
    ax = plots.correlation(res.correlation, res.names)
    n = len(res.names)
    assert len(ax.texts) == n * n
    assert [t.get_text() for t in ax.get_xticklabels()] == res.names
    assert ax.images[0].get_clim() == (-1, 1)


def test_correlation_with_nan():
    m = np.array([[1.0, np.nan], [np.nan, 1.0]])
    ax = plots.correlation(m, ["a", "b"])
    assert "n/a" in [t.get_text() for t in ax.texts]


def _profile(name, best=1.0):
    v = np.linspace(best - 0.5, best + 0.5, 11)
    return Profile(name=name, values=v, cost=(v - best) ** 2 + 0.1, best_value=best,
                   best_cost=0.1)


def test_profiles_one_panel_per_parameter():
    profs = {n: _profile(n) for n in ("epsilon[A-B]", "sigma[A-B]", "offset", "sigma[C-D]")}
    fig = plots.profiles(profs, threshold=0.05)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 4
    assert visible[1].get_xlabel() == "sigma[A-B] (Å)"
    assert visible[0].get_xlabel() == "epsilon[A-B] (eV)"
    assert "χ²/2" in visible[0].get_ylabel()
    # Δcost starts at zero at the best value
    y = visible[0].lines[0].get_ydata()
    assert np.nanmin(y) == pytest.approx(0.0)


def test_profiles_into_given_figure_and_nan_costs():
    fig = plt.figure()
    p = _profile("sigma[X]")
    p.cost[3] = np.nan
    out = plots.profiles({"sigma[X]": p}, fig=fig)
    assert out is fig


def test_save_png(tmp_path, fitted):
    ds, _, res = fitted
    ax = plots.parity(reference=ds.energies, predictions={"linear": res.predictions})
    path = tmp_path / "p.png"
    plots.save(ax, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not plt.get_fignums()  # closed


# ---------------------------------------------------------------------------------------
# fixed margins: a new figure's texts (ticks, labels, titles, legends below the axes,
# colour bars) all lie inside it, for few and many methods, slots and parameters
# ---------------------------------------------------------------------------------------


def _outside(fig) -> list:
    """The sides where what the figure draws (its tight bounding box: the ticks shown,
    labels, titles, legends, colour bars) leaves the figure, by more than 0.01 inch."""
    fig.canvas.draw()
    box = fig.get_tightbbox(fig.canvas.get_renderer())  # inches
    w, h = fig.get_size_inches()
    tol = 0.01
    sides = {"left": -box.x0, "bottom": -box.y0, "right": box.x1 - w, "top": box.y1 - h}
    return [f"{side} by {d:.2f} in" for side, d in sides.items() if d > tol]


def _methods(res, n):
    return {f"method_{k}_with_a_long_name": res.predictions + 1e-4 * k for k in range(n)}


def _slots(model, n):
    pairs = {f"El{k}-El{k + 1}": (0.01 * (1 + k % 3), 3.0 + 0.1 * k) for k in range(n)}
    return SimpleNamespace(pair_parameters=lambda x: pairs, potential=model.potential,
                           cutoff=8.0, shift=True, scope="per-pair")


def _names(n):
    return [f"{'epsilon' if k % 2 else 'sigma'}[Element{k}-Element{k + 1}]" for k in range(n)]


FIGURES = {
    "parity-1": lambda ds, model, res: plots.parity(
        reference=ds.energies, predictions={"linear": res.predictions}),
    "parity-6": lambda ds, model, res: plots.parity(
        reference=ds.energies, predictions=_methods(res, 6)),
    "residuals-1": lambda ds, model, res: plots.residuals(
        reference=ds.energies, predictions={"linear": res.predictions}),
    "residuals-7": lambda ds, model, res: plots.residuals(
        reference=ds.energies, predictions=_methods(res, 7)),
    "potentials-3": lambda ds, model, res: plots.potentials(model, res.x),
    "potentials-8": lambda ds, model, res: plots.potentials(_slots(model, 8), None),
    "potentials-15": lambda ds, model, res: plots.potentials(_slots(model, 15), None),
    "correlation-6": lambda ds, model, res: plots.correlation(res.correlation, res.names),
    "correlation-long-names": lambda ds, model, res: plots.correlation(
        np.eye(9), _names(9)),
    "profiles-1": lambda ds, model, res: plots.profiles(
        {"sigma[A-B]": _profile("sigma[A-B]", 3.0)}, threshold=0.05),
    "profiles-7": lambda ds, model, res: plots.profiles(
        {n: _profile(n, 0.0123) for n in _names(7)}, threshold=0.05),
    "force-parity-markers": lambda ds, model, res: plots.parity_forces(
        reference=np.linspace(-1, 1, 50), predicted=np.linspace(-1, 1, 50) * 1.01,
        method="linear"),
    "force-parity-density": lambda ds, model, res: plots.parity_forces(
        reference=np.linspace(-1, 1, 20_000), predicted=np.linspace(-1, 1, 20_000) * 1.01,
        method="linear"),
}


@pytest.mark.parametrize("case", list(FIGURES))
def test_new_figure_keeps_every_text_inside(fitted, case):
    ds, model, res = fitted
    drawn = FIGURES[case](ds, model, res)
    fig = getattr(drawn, "figure", drawn)
    assert _outside(fig) == []
