"""ljfit: fit Lennard-Jones (and Mie) parameters to reference energies of atomic structures."""

__version__ = "0.1.0"

from .errors import DataError, FitError, LJFitError  # noqa: E402
from .dataset import Dataset, Structure  # noqa: E402
