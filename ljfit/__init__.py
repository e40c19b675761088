"""ljfit: fit Lennard-Jones (and Mie) parameters to reference energies of atomic structures.

>>> import ljfit
>>> ds = ljfit.read_dataset("data/example")                         # doctest: +SKIP
>>> model = ljfit.LJModel(ds, scope="per-pair")                      # doctest: +SKIP
>>> result = ljfit.fit(model, ds, method="linear")                   # doctest: +SKIP
>>> atoms.calc = ljfit.LJCalculator.from_file("results/example/params.json")  # doctest: +SKIP
"""

__version__ = "0.1.0"

from .errors import DataError, FitError, LJFitError  # noqa: E402
from .dataset import Dataset, Structure  # noqa: E402
from .potentials import LJ, Mie  # noqa: E402
from .params import Parameter, ParamSpec  # noqa: E402
from .features import PairFeatures, compute_features  # noqa: E402
from .model import LJModel  # noqa: E402
from .calculator import LJCalculator  # noqa: E402
from .fitting import FitResult, fit, fit_methods  # noqa: E402


def read_dataset(path, **options):
    """Read structures and reference energies; see :func:`ljfit.io.read_dataset`."""
    from .io import read_dataset as _read

    return _read(path, **options)


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
