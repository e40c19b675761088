"""scipy's NNLS solver without ``import scipy.optimize``.

``scipy.optimize.nnls`` is a thin Python wrapper around a compiled Lawson–Hanson routine
(``scipy.optimize._slsqplib.nnls``). Importing it the ordinary way runs the whole
``scipy.optimize`` package ``__init__`` (every optimiser, ~0.45 s), half of the wall time of
``ljfit fit --method linear`` on 2000 cells. The results must keep scipy's bits (the
shipped example's parameters.csv is pinned to 15 digits, and an NNLS of our own moved its
last digits), so this module loads that same compiled routine directly from scipy's
installed files (~0.02 s) and wraps it exactly as ``scipy.optimize.nnls`` does.

Where that is not possible -- ``scipy.optimize`` already imported, another scipy layout, a
routine that does not answer a known problem correctly -- :func:`nnls` is
``scipy.optimize.nnls`` itself. ``DIRECT`` says which one is in use; a test checks that
both give the same bits.
"""

from __future__ import annotations

import sys

import numpy as np

__all__ = ["nnls", "DIRECT"]


def _load_direct(even_if_imported: bool = False):
    """The compiled ``nnls(A, b, maxiter) -> (x, rnorm, info)`` of scipy, or None."""
    if "scipy.optimize" in sys.modules and not even_if_imported:
        return None  # nothing to save: the public function
    try:
        import importlib.machinery
        import importlib.util
        import os

        import scipy

        folder = os.path.join(os.path.dirname(scipy.__file__), "optimize")
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = os.path.join(folder, "_slsqplib" + suffix)
            if os.path.isfile(path):
                break
        else:
            return None
        name = "scipy.optimize._slsqplib"
        loader = importlib.machinery.ExtensionFileLoader(name, path)
        spec = importlib.util.spec_from_file_location(name, path, loader=loader)
        module = importlib.util.module_from_spec(spec)
        loader.exec_module(module)
        routine = module.nnls
        # scipy's own docstring example: a routine that does not answer it is not the one
        # this module was written for
        x, rnorm, info = routine(np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]),
                                 np.array([2.0, 1.0, 1.0]), 6)
        if not (np.allclose(x, [1.5, 1.0]) and abs(rnorm - 0.5 ** 0.5) < 1e-12
                and info == 1):
            return None
        return routine
    except Exception:  # noqa: BLE001 - any surprise: the public function instead
        return None


_ROUTINE = _load_direct()
#: True when :func:`nnls` calls scipy's compiled routine directly
DIRECT = _ROUTINE is not None


def nnls(A, b, *, maxiter=None):
    """``scipy.optimize.nnls(A, b, maxiter=maxiter)``: argmin_x ‖A x − b‖₂ subject to
    x ≥ 0, and the residual norm.

    Parameters
    ----------
    A : array_like, shape (m, n)
    b : array_like, shape (m,)
    maxiter : int, optional
        Iterations of the active-set loop (default 3 n).

    Returns
    -------
    x : ndarray, shape (n,)
    rnorm : float

    Raises
    ------
    RuntimeError
        When the iterations run out (as scipy does).
    """
    if _ROUTINE is None:
        from scipy.optimize import nnls as public

        return public(A, b, maxiter=maxiter)
    # the argument handling of scipy.optimize._nnls.nnls, line for line
    A = np.asarray_chkfinite(A, dtype=np.float64, order="C")
    b = np.asarray_chkfinite(b, dtype=np.float64)
    if len(A.shape) != 2:
        raise ValueError(f"Expected a 2D array, but the shape of A is {A.shape}")
    if (b.ndim > 2) or ((b.ndim == 2) and (b.shape[1] != 1)):
        raise ValueError("Expected a 1D array,(or 2D with one column), but the,"
                         f" shape of b is {b.shape}")
    elif (b.ndim == 2) and (b.shape[1] == 1):
        b = b.ravel()
    m, n = A.shape
    if m != b.shape[0]:
        raise ValueError("Incompatible dimensions. The first dimension of "
                         f"A is {m}, while the shape of b is {(b.shape[0], )}")
    if not maxiter:
        maxiter = 3 * n
    x, rnorm, info = _ROUTINE(A, b, maxiter)
    if info == 3:
        raise RuntimeError("Maximum number of iterations reached.")
    return x, rnorm
