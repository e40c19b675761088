r"""Uncertainty and validation of a fit: bootstrap, cross-validation, profiles.

Every function takes the model (:class:`ljfit.model.LJModel`) and the dataset
(:class:`ljfit.dataset.Dataset`) whose energies (eV) and weights are the references; nothing
recomputes pair features: a subset of the structures is ``model.take(indices)``.

Bootstrap (:func:`bootstrap`)
    Resample the structures with replacement (``np.random.default_rng(seed)``; all ``n``
    resamples are drawn up front, so the resamples depend on ``seed`` and ``n`` only), refit
    each resample, and report the mean, standard deviation and *percentile* interval of every
    free parameter. A refit that fails or leaves a parameter undefined (the linear solve with
    a coefficient at zero) is counted in ``n_failed`` and excluded. With ``method="linear"``
    a refit is one column-scaled NNLS solve on rows of the precomputed design matrix (about
    0.1 ms for the 40-structure example: 1000 resamples in < 0.1 s); iterative methods start
    each refit where a fresh fit of the resample would start (its own linear solve or
    mapped start, plus ``n_starts`` random starts if asked), never from the full fit's
    answer. When the full fit is underdetermined the intervals are undefined (``reason``)
    instead of numbers: refits then scatter over what the data allow, or — started from an
    exact fit — do not move at all.

Cross-validation (:func:`cross_validate`)
    K-fold on seeded shuffled folds (fold sizes differ by at most one) or leave-one-out.
    Each structure is predicted by the fit on the other folds (each fold fit starts where a
    fresh fit of its training structures would start); the held-out RMSE and MAE
    (unweighted, eV, over all structures, like :attr:`FitResult.rmse`) are compared with the
    training RMSE of the full fit. A held-out RMSE more than :data:`OVERFIT_RATIO` (2) times
    the training RMSE is reported as over-fitting. For linear least squares with a correct
    model, noise of variance s² and structures of similar leverage, the expected training
    MSE is s²(m − n)/m and the expected leave-one-out MSE about s²(1 + n/m), for m
    structures and n free parameters: a ratio of RMSEs near :math:`\sqrt{(m+n)/(m-n)}`
    (1.29 for m = 24, n = 6; K-fold with small K trains on fewer structures and comes out a
    little higher). A factor above 2 means that the parameters follow the noise (too many
    parameters for the data) or that a few structures are unlike the rest (high leverage,
    extrapolated when held out); the warning names the structures with the largest
    held-out errors.

Closed-form leave-one-out (:func:`loo_residuals_linear`)
    For the weighted linear least-squares problem :math:`\min\|W^{1/2}(Xc-y)\|^2` the
    prediction error of structure i by the fit without it is :math:`e_i/(1-h_{ii})`, with
    :math:`e = Xc - y` and the diagonal of the hat matrix
    :math:`H = X_w(X_w^\top X_w)^{+}X_w^\top`, :math:`X_w = W^{1/2}X`. It equals the
    leave-one-out of the linear method when no NNLS bound is active (every coefficient of
    every leave-one-out fit positive).

Profiles (:func:`profile`, :func:`profiles`)
    The cost :math:`F = \tfrac12\sum_o w_o (\hat o - o)^2` (χ²/2) with one parameter fixed on a
    grid and every other free parameter re-optimised. For a result of the linear method and a
    σ (or the offset) of a linear model the problem with that value fixed is still linear
    (each slot of that σ contributes :math:`\varepsilon_k\,C(\sigma^n A^{(n)}_k -
    \sigma^m A^{(m)}_k)`), so each point is one exact NNLS solve; otherwise each point is a
    bounded ``least_squares`` fit warm-started from the neighbouring grid point. Profiles are
    of the plain squared-error cost (no robust loss), plus the Gaussian prior terms when the
    fit had priors (``priors=``: what the fit minimised).
"""

from .profiles import PROFILE_SPAN_STDERR, bootstrap_spans, profile, profiles
from .resampling import bootstrap, cross_validate, loo_residuals_linear
from .results import OVERFIT_RATIO, BootstrapResult, CVResult, Profile

__all__ = [
    "BootstrapResult",
    "CVResult",
    "Profile",
    "bootstrap",
    "cross_validate",
    "loo_residuals_linear",
    "profile",
    "profiles",
    "bootstrap_spans",
    "OVERFIT_RATIO",
    "PROFILE_SPAN_STDERR",
]
