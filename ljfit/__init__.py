"""ljfit: fit Lennard-Jones (and Mie) parameters to reference energies of atomic structures.

>>> import ljfit
>>> ds = ljfit.read_dataset("data/example")                         # doctest: +SKIP
>>> model = ljfit.LJModel(ds, scope="per-pair")                      # doctest: +SKIP
>>> result = ljfit.fit(model, ds, method="linear")                   # doctest: +SKIP
>>> atoms.calc = ljfit.LJCalculator.from_file("results/example/params.json")  # doctest: +SKIP

``import ljfit`` is cheap: the public names below are imported on first use (PEP 562
module ``__getattr__``), so the ``ljfit`` command can install its signal handlers and
answer ``--help`` before numpy, scipy and ASE are loaded. ``ljfit.LJModel``,
``from ljfit import fit`` and ``ljfit.plots`` work exactly as with eager imports.
"""

from __future__ import annotations

import importlib

__version__ = "0.2.0"

# the exceptions are tiny and needed by every caller that handles errors: eager
from .errors import DataError, FitError, LJFitError  # noqa: E402

#: public name -> submodule that defines it (imported on first access)
_LAZY = {
    "Dataset": "dataset",
    "Structure": "dataset",
    "LJ": "potentials",
    "Mie": "potentials",
    "Parameter": "params",
    "ParamSpec": "params",
    "PairFeatures": "features",
    "compute_features": "features",
    "LJModel": "model",
    "LJCalculator": "calculator",
    "FitResult": "fitting",
    "fit": "fitting",
    "fit_methods": "fitting",
}

#: submodules reachable as attributes (``ljfit.plots``, ``ljfit.uncertainty`` ...)
_SUBMODULES = frozenset({
    "calculator", "cli", "dataset", "errors", "features", "fitting", "io", "model",
    "params", "paramsfile", "plots", "potentials", "report", "uncertainty",
})


def read_dataset(path, **options):
    """Read structures and reference energies; see :func:`ljfit.io.read_dataset`."""
    from .io import read_dataset as _read

    return _read(path, **options)


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | _SUBMODULES)


__all__ = [
    "__version__",
    "LJFitError",
    "DataError",
    "FitError",
    "Dataset",
    "Structure",
    "LJ",
    "Mie",
    "Parameter",
    "ParamSpec",
    "PairFeatures",
    "compute_features",
    "LJModel",
    "LJCalculator",
    "read_dataset",
    "fit",
    "fit_methods",
    "FitResult",
]
