"""Option types of the command line (also applied to the values of a --config file), the parser and the --config merge."""

from __future__ import annotations

import argparse
import math
import os

from .. import __version__
from ..errors import DataError, FitError
from ..paramsfile import MAX_EXPONENT

_SCOPES_HELP = "per-site|per-element|per-pair"
_METHODS_HELP = "linear, least_squares, basinhopping, dual_annealing, differential_evolution"


class _UsageError(Exception):
    """An argparse error, printed as one line by :func:`main`."""

    def __init__(self, message, prog):
        super().__init__(message)
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage block
        raise _UsageError(message, self.prog)


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog):
        super().__init__(prog, max_help_position=30, width=100)


# ----------------------------------------------------------------------------------------
# option types (also applied to the values of a --config file)
# ----------------------------------------------------------------------------------------


def _float(text) -> float:
    if isinstance(text, bool):
        raise argparse.ArgumentTypeError(f"expected a number, got {_show(text)}")
    try:
        return float(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a number, got {_show(text)}") from None


def _positive_float(text) -> float:
    v = _float(text)
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {_show(text)}")
    return v


def _nonneg_float(text) -> float:
    v = _float(text)
    if not (math.isfinite(v) and v >= 0):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {_show(text)}")
    return v


#: Upper limits of the integer options, checked before any work: a count beyond them is a
#: typo or an attack (``--bootstrap 10^20`` asked numpy for a 10^20-row array), never a
#: plan. Each is far above what a run on one machine can use.
MAX_INT = {
    "n_substrate": 10**9,   # atoms
    "bootstrap": 10**6,     # resamples: one fit each
    "cv": 10**6,            # folds (never more than the structures anyway)
    "niter": 10**6,         # basin-hopping steps
    "maxiter": 10**7,       # iterations of a global search
    "n_starts": 10**4,      # extra least-squares starts
    "seed": 2**64 - 1,      # numpy seeds are unsigned 64-bit words
}


def _int(text, minimum=None, maximum=None) -> int:
    if isinstance(text, bool):
        raise argparse.ArgumentTypeError(f"expected an integer, got {_show(text)}")
    if isinstance(text, float) and text.is_integer():
        text = int(text)
    try:
        v = int(str(text).strip())
    except ValueError:  # not an integer, or more than 4300 digits
        raise argparse.ArgumentTypeError(f"expected an integer, got {_show(text)}") from None
    if minimum is not None and v < minimum:
        raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {_show(text)}")
    if maximum is not None and v > maximum:
        raise argparse.ArgumentTypeError(
            f"expected an integer <= {maximum:_}, got {_show(text)}")
    return v


def _show(value, limit=60) -> str:
    """``repr`` of a value for a message, cut to ``limit`` characters (a value quoted from a
    file or a config may be megabytes long, or nested thousands of levels deep)."""
    try:
        text = repr(value)
    except RecursionError:
        text = f"<{type(value).__name__} nested too deeply>"
    if len(text) <= limit:
        return text
    return f"{text[:limit - 20]}...{text[-12:]} ({len(text)} characters)"


def _bounded(minimum, key):
    def convert(text):
        return _int(text, minimum, MAX_INT[key])

    convert.__name__ = key  # argparse names the type in some messages
    return convert


def _positive_int(text) -> int:
    return _int(text, 1)


def _nonneg_int(text) -> int:
    return _int(text, 0)


def _seed(text) -> int:
    return _int(text, 0, MAX_INT["seed"])


def _library_type(module, name, check=None):
    """An argparse type from a library parser: its FitError becomes the usage error, with
    the library's own message (which lists the valid choices), so the two never disagree.
    The library module is imported on first use (it imports numpy; ``--help`` does not
    need it)."""

    def convert(text):
        import importlib

        parse = getattr(importlib.import_module(f"ljfit.{module}"), name)
        try:
            value = parse(text)
        except FitError as exc:
            raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[-1]) from None
        return check(value, text) if check else value

    return convert


def _potential_name(pot, text) -> str:
    if pot.n > MAX_EXPONENT:
        raise argparse.ArgumentTypeError(
            f"potential {_show(text)}: the repulsive exponent must be at most "
            f"{MAX_EXPONENT:g} (got {pot.n:g}; (sigma/r)^n overflows for larger ones)")
    return pot.name


_scope = _library_type("params", "normalize_scope")
_mixing = _library_type("params", "normalize_mixing")
_potential = _library_type("potentials", "parse_potential", _potential_name)


def _methods(text) -> str:
    if isinstance(text, (list, tuple)):
        if not all(isinstance(t, str) for t in text):
            raise argparse.ArgumentTypeError(f"expected method names, got {_show(text)}")
        text = ",".join(text)
    elif not isinstance(text, str):
        raise argparse.ArgumentTypeError(f"expected method names, got {_show(text)}")
    items = [m.strip() for m in str(text).split(",") if m.strip()]
    if not items:
        raise argparse.ArgumentTypeError("give at least one method")
    return ",".join(items)


def _bootstrap_n(text) -> int:
    n = _int(text, 0, MAX_INT["bootstrap"])
    if n == 1:
        raise argparse.ArgumentTypeError("expected 0 (no bootstrap) or at least 2 resamples, got 1")
    return n


def _cv(text):
    if str(text).strip().lower() == "loo":
        return "loo"
    try:
        k = _int(text, 2, MAX_INT["cv"])
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected a number of folds K >= 2 (at most {MAX_INT['cv']:_}) or 'loo', "
            f"got {_show(text)}"
        ) from None
    return k


def _split_assignment(text, what):
    if not isinstance(text, str) or "=" not in text:
        raise argparse.ArgumentTypeError(f"expected {what}, got {_show(text)}")
    name, value = text.split("=", 1)
    name = name.strip()
    if not name:
        raise argparse.ArgumentTypeError(f"expected {what}, got {_show(text)} (no name)")
    return name, value.strip()


def _bounds_item(text):
    if isinstance(text, tuple):
        return text
    name, value = _split_assignment(text, "NAME=LO:HI, e.g. sigma[Au-C]=2.5:4")
    parts = value.split(":")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(
            f"expected NAME=LO:HI, e.g. sigma[Au-C]=2.5:4, got {_show(text)}"
        )
    try:
        lo, hi = float(parts[0]), float(parts[1])
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"bounds of {name}: LO and HI must be numbers (or -inf/inf), got {_show(value)}"
        ) from None
    if math.isnan(lo) or math.isnan(hi) or not lo < hi:
        raise argparse.ArgumentTypeError(f"bounds of {name}: need LO < HI, got {_show(value)}")
    return name, (lo, hi)


def _value_item(text, what="NAME=VALUE"):
    if isinstance(text, tuple):
        return text
    name, value = _split_assignment(text, f"{what}, e.g. epsilon[Au-C]=0.02")
    try:
        v = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{name}: VALUE must be a number, got {_show(value)}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"{name}: VALUE must be finite, got {_show(value)}")
    return name, v


def _prior_item(text):
    """``NAME=VALUE±WIDTH`` (or ``VALUE+-WIDTH``): a Gaussian prior, in the parameter's
    unit."""
    if isinstance(text, tuple):
        return text
    example = "e.g. 'sigma[Au-O]=3.0±0.1' (value ± width, in the parameter's unit)"
    name, value = _split_assignment(text, f"NAME=VALUE±WIDTH, {example}")
    parts = value.replace("+/-", "±").replace("+-", "±").split("±")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(
            f"prior on {name}: give a value and a width, {example}; got {value!r} (a prior "
            "without a width says nothing about how strongly it holds)")
    try:
        v, w = float(parts[0]), float(parts[1])
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"prior on {name}: VALUE and WIDTH must be numbers, got {value!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"prior on {name}: VALUE must be finite, got {value!r}")
    if not (math.isfinite(w) and w > 0):
        raise argparse.ArgumentTypeError(
            f"prior on {name}: WIDTH must be a positive number, got {value!r}")
    return name, (v, w)


# ----------------------------------------------------------------------------------------
# the parser
# ----------------------------------------------------------------------------------------

_FIT_EPILOG = """\
examples:
  ljfit fit data/example                           --method auto, results/example/
  ljfit fit data/example --method all              every method that applies
  ljfit fit data/example --method linear,least_squares --out /tmp/run --force
  ljfit fit data/example_tags --scope per-element --mixing geometric
  ljfit fit runs/*.extxyz --groups tags --energy-unit kcal/mol --cutoff 10 --shift
  ljfit fit data/example --fix 'sigma[Au-H]=2.7' --bounds 'epsilon[Au-C]=0.005:0.05'
  ljfit fit data/example --prior 'sigma[Au-O]=3.0±0.1'   Gaussian prior: value ± width (Å)
  ljfit fit data/example --cv loo --bootstrap 200
  ljfit fit data/example --config fit.toml         options from TOML, command line wins
  ljfit fit data/example_forces --cutoff 8.5       energies + forces + stress, e0 fitted
  ljfit fit cells/*.extxyz --cutoff 8.5 --force-sigma 0.1 --stress-sigma 0.05GPa --no-stress
  ljfit fit big/*.extxyz --cutoff 8.5 --jobs 2     read and featurise in 2 processes
  ljfit fit big/*.extxyz --cutoff 8.5 --scheduler tcp://head:8786   on a dask cluster

files written: parameters.csv params.json predictions.csv metrics.json pair.lmp in.lammps
               structure.data parity.png residuals.png potentials.png correlation.png
               profiles.png report.md; predictions_forces.csv, predictions_stress.csv and
               parity_forces.png when forces / stress are fitted
"""

_INFO_EPILOG = """\
examples:
  ljfit info data/example
  ljfit info data/example_tags/dimers.extxyz --groups tags
"""

_PREDICT_EPILOG = """\
examples:
  ljfit predict results/example/params.json data/example
  ljfit predict results/example/params.json new_structures.extxyz --out energies.csv

The model (scope, mixing, potential, cutoff, shift, offset) and the group rule are taken
from params.json; reading options given here override the recorded ones.
"""

_CHECK_EPILOG = """\
examples:
  ljfit check-grad data/example
  ljfit check-grad data/example --scope per-element --mixing geometric --offset
"""


def _add_reading(p, defaults_note=True):
    g = p.add_argument_group("reading")
    g.add_argument("--layout", choices=("auto", "seed", "ase"),
                   help="auto (default), seed (p_N.xyz + p_N_extended.xyz folder) or ase")
    g.add_argument("--n-substrate", type=_bounded(1, "n_substrate"), metavar="N",
                   help="number of substrate (group A) atoms at the start of each structure")
    g.add_argument("--groups", metavar="HOW",
                   help="tags|fragments|first:N|all|auto|array:NAME (default auto)")
    g.add_argument("--energy-key", metavar="KEY",
                   help="info key or calculator result holding the energy (default energy)")
    g.add_argument("--energy-unit", metavar="UNIT",
                   help="eV|kcal/mol|kJ/mol|Ha: unit of the energies in the files (default eV)")
    g.add_argument("--energies-csv", metavar="FILE",
                   help="CSV file with columns name,energy (optional column weight)")
    g.add_argument("--force-key", metavar="KEY",
                   help="calculator result or per-atom array holding the forces (default "
                        "forces); naming it for interaction energies says it holds "
                        "interaction forces")
    g.add_argument("--stress-key", metavar="KEY",
                   help="calculator result or info entry holding the stress (default "
                        "stress, else info virial)")
    return g


#: the expected errors: "0.001" or "0.001/atom" eV; eV/Å³ or "0.1GPa"
_energy_sigma = _library_type("fitting.targets", "parse_energy_sigma")
_stress_sigma = _library_type("fitting.targets", "parse_stress_sigma")


def _add_observables(p):
    g = p.add_argument_group("observables (residuals are divided by these expected errors)")
    g.add_argument("--energy-sigma", type=_energy_sigma, metavar="EV",
                   help="eV per structure, or per atom as 0.001/atom (default 0.001/atom for "
                        "total energies, 0.001 eV for interaction energies)")
    g.add_argument("--force-sigma", type=_positive_float, metavar="EV/Å",
                   help="eV/Å per force component (default 0.05)")
    g.add_argument("--stress-sigma", type=_stress_sigma, metavar="S",
                   help="eV/Å³ per stress component, or in GPa as 0.1GPa (default 0.1GPa)")
    g.add_argument("--forces", dest="fit_forces", action="store_const", const=True,
                   default=None, help="fit the forces (an error when none can be fitted); "
                                      "default: fitted when the data have them")
    g.add_argument("--no-forces", dest="fit_forces", action="store_const", const=False,
                   help="do not fit forces present in the data")
    g.add_argument("--stress", dest="fit_stress", action="store_const", const=True,
                   default=None, help="fit the stress (an error when none can be fitted)")
    g.add_argument("--no-stress", dest="fit_stress", action="store_const", const=False,
                   help="do not fit stress present in the data")
    return g


def _add_model(p, bounds=True):
    g = p.add_argument_group("model")
    g.add_argument("--scope", type=_scope, metavar="SCOPE",
                   help=f"{_SCOPES_HELP} (default per-pair)")
    g.add_argument("--mixing", type=_mixing, metavar="RULE",
                   help="lorentz-berthelot (default) or geometric: per-element mixing rule")
    g.add_argument("--potential", type=_potential, metavar="POT",
                   help="lj (default) or mie:N:M, e.g. mie:9:6")
    g.add_argument("--cutoff", type=_positive_float, metavar="R",
                   help="pair cutoff in Å (required for periodic structures; default none)")
    g.add_argument("--shift", action="store_true", default=None,
                   help="shift each pair energy to zero at the cutoff")
    g.add_argument("--offset", action="store_true", default=None,
                   help="fit a constant energy offset (eV)")
    g.add_argument("--reference-energies", metavar="fit|none|FILE",
                   help="per-element reference energies e0[El] (eV/atom) added to total "
                        "energies: fit, none, or fixed from a JSON/CSV FILE (element,e0); "
                        "default fit when the structures differ in size or composition")
    if bounds:
        g.add_argument("--bounds", action="append", type=_bounds_item, metavar="NAME=LO:HI",
                       help="bounds of a parameter (repeatable), e.g. 'sigma[Au-C]=2.5:4'")
        g.add_argument("--fix", action="append", type=_value_item, metavar="NAME=VALUE",
                       help="hold a parameter fixed (repeatable), e.g. 'sigma[Au-H]=2.7'")
    return g


def _add_common(p):
    g = p.add_argument_group("general")
    g.add_argument("--config", metavar="FILE",
                   help="TOML file with option values (keys: option names); command line wins")
    g.add_argument("--quiet", action="store_true", default=None,
                   help="print nothing but errors (no progress bars, no summary)")
    g.add_argument("--debug", action="store_true", default=None,
                   help="show the traceback of unexpected errors")
    return g


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``ljfit`` (subcommands fit, info, predict, check-grad)."""
    parser = _Parser(
        prog="ljfit",
        description="Fit Lennard-Jones (and Mie) parameters to reference energies of atomic "
                    "structures.",
        formatter_class=_Formatter,
        epilog="run 'ljfit COMMAND --help' for the options and examples of a command",
    )
    parser.add_argument("--version", action="version", version=f"ljfit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                parser_class=_Parser)

    # fit ------------------------------------------------------------------------------
    p = sub.add_parser("fit", help="fit parameters and write the results folder",
                       description="Read structures and reference energies, fit the model "
                                   "with one or more methods, write the results folder.",
                       formatter_class=_Formatter, epilog=_FIT_EPILOG)
    p.add_argument("path", metavar="PATH", nargs="+",
                   help="folder(s), file(s) or glob pattern(s) of structures")
    _add_reading(p)
    _add_model(p)
    _add_observables(p)
    g = p.add_argument_group("fitting")
    g.add_argument("--method", type=_methods, metavar="LIST",
                   help=f"auto (default), all, or a comma list of {_METHODS_HELP}; auto: "
                        "linear + least_squares where the exact solve applies, else "
                        "least_squares (8 random starts) + dual_annealing; all: every "
                        "method that applies")
    g.add_argument("--loss", choices=("linear", "soft_l1", "huber", "cauchy", "arctan"),
                   help="robust loss of least_squares (default linear)")
    g.add_argument("--f-scale", type=_positive_float, metavar="EV",
                   help="residual scale of the robust loss, eV at the energy sigma (default: "
                        "1.4826 x median |residual| of a plain fit, stated in the report)")
    g.add_argument("--prior", action="append", type=_prior_item, metavar="NAME=VALUE±WIDTH",
                   help="Gaussian prior on a parameter, value and width in its unit (eV or "
                        "Å; also VALUE+-WIDTH; repeatable): adds ((p - VALUE)/WIDTH)² to χ²; "
                        "parameters without a prior are not pulled")
    g.add_argument("--regularization", metavar="LAMBDA",
                   help="removed: state priors with a width instead (--prior)")
    g.add_argument("--absolute-sigma", action="store_true", default=None,
                   help="the sigmas are the true errors of the references: standard errors "
                        "from (JᵀWJ)⁻¹, not rescaled by the reduced χ² (a warning when "
                        "χ² does not fit them)")
    g.add_argument("--seed", type=_seed, metavar="N", help="random seed (default 0)")
    g.add_argument("--niter", type=_bounded(1, "niter"), metavar="N",
                   help="basinhopping hops (default 100)")
    g.add_argument("--maxiter", type=_bounded(1, "maxiter"), metavar="N",
                   help="dual_annealing / differential_evolution iterations (default 300)")
    g.add_argument("--n-starts", type=_bounded(0, "n_starts"), metavar="N",
                   help="extra seeded random starts of least_squares (default 0; 8 under "
                        "--method auto where no exact solve applies)")
    g = p.add_argument_group("scale-out (read and featurise in parallel parts)")
    g.add_argument("--jobs", type=_positive_int, metavar="N",
                   help="worker processes on this machine (default 1: serial)")
    g.add_argument("--scheduler", metavar="ADDRESS",
                   help="a dask.distributed scheduler (tcp://host:8786) whose workers read "
                        "and featurise; default: $DASK_SCHEDULER_ADDRESS when set")
    g = p.add_argument_group("uncertainty")
    g.add_argument("--bootstrap", type=_bootstrap_n, metavar="N",
                   help="bootstrap resamples (default 0: none); adds ci_low, ci_high")
    g.add_argument("--bootstrap-method", metavar="METHOD",
                   help="method refitted in the bootstrap (default: the best method)")
    g.add_argument("--cv", type=_cv, metavar="K|loo",
                   help="K-fold or leave-one-out cross-validation of every successful method")
    g = p.add_argument_group("output")
    g.add_argument("--out", metavar="DIR",
                   help="results folder (default results/<dataset name>/)")
    g.add_argument("--force", action="store_true", default=None,
                   help="replace DIR when it exists and is not empty (never a folder that "
                        "holds or lies inside an input; one run per folder at a time)")
    g.add_argument("--no-plots", action="store_true", default=None,
                   help="write no figures (and compute no cost profiles)")
    _add_common(p)
    p.set_defaults(func="fit:cmd_fit")

    # info -----------------------------------------------------------------------------
    p = sub.add_parser("info", help="summarise a dataset and which scopes it determines",
                       description="Dataset summary, and for every scope: free parameters "
                                   "against structures and the Jacobian rank at the "
                                   "least_squares starting point; a suggested scope.",
                       formatter_class=_Formatter, epilog=_INFO_EPILOG)
    p.add_argument("path", metavar="PATH", nargs="+")
    _add_reading(p)
    _add_model(p, bounds=False)
    _add_observables(p)
    _add_common(p)
    p.set_defaults(func="info:cmd_info")

    # predict --------------------------------------------------------------------------
    p = sub.add_parser("predict", help="energies of structures with fitted parameters",
                       description="Energies (eV) of structures with the parameters of a "
                                   "params.json: CSV structure,energy (+ reference).",
                       formatter_class=_Formatter, epilog=_PREDICT_EPILOG)
    p.add_argument("params", metavar="PARAMS_JSON", help="params.json written by ljfit fit")
    p.add_argument("path", metavar="PATH", nargs="+")
    _add_reading(p)
    g = p.add_argument_group("output")
    g.add_argument("--out", metavar="FILE", help="CSV file (default: standard output)")
    g.add_argument("--force", action="store_true", default=None,
                   help="replace FILE when it exists (never one of the inputs)")
    _add_common(p)
    p.set_defaults(func="predict:cmd_predict")

    # check-grad -----------------------------------------------------------------------
    p = sub.add_parser("check-grad", help="analytic against finite-difference Jacobian",
                       description="Compare the analytic Jacobian with central finite "
                                   "differences at the starting point of a fit and at a\n"
                                   "seeded random point in the bounds around it (each "
                                   "epsilon, sigma scaled by a random factor\nin "
                                   "[0.82, 1.22]). Prints 'max relative error: <value>' per "
                                   "point and overall\n(per parameter: max |analytic - FD| "
                                   "/ max |analytic| over the structures).",
                       formatter_class=_Formatter, epilog=_CHECK_EPILOG)
    p.add_argument("path", metavar="PATH", nargs="+")
    _add_reading(p)
    _add_model(p)
    _add_observables(p)
    p.add_argument("--seed", type=_seed, metavar="N", help="seed of the random point (default 0)")
    _add_common(p)
    p.set_defaults(func="check_grad:cmd_check_grad")

    parser._ljfit_subparsers = sub.choices  # noqa: SLF001 (used by the --config handling)
    return parser


# ----------------------------------------------------------------------------------------
# --config
# ----------------------------------------------------------------------------------------

_NOT_CONFIGURABLE = {"help", "config", "path", "params", "func", "command", "version"}


#: Largest config file read (a TOML file of options is a few hundred bytes).
MAX_CONFIG_BYTES = 1 << 20


def _load_config(path) -> dict:
    """The TOML document of ``--config``: a regular file of at most 1 MiB (a FIFO or
    ``/dev/zero`` would block or fill the memory), UTF-8, valid TOML, not nested so deep
    that the parser runs out of stack."""
    import tomllib

    from ..io.common import read_regular_file

    data = read_regular_file(os.path.expanduser(str(path)), str(path),
                             max_bytes=MAX_CONFIG_BYTES, what="config file")
    try:
        return tomllib.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:  # TOMLDecodeError; a 5000-digit integer
        raise DataError(f"not a valid TOML file ({_show(str(exc), 200)[1:-1]})",
                        str(path)) from None
    except RecursionError:
        raise DataError("not a usable TOML file: arrays or tables nested too deeply",
                        str(path)) from None


def _config_value(action, key, value, where):
    """Convert one TOML value for an argparse action (type, choices, append)."""
    def bad(msg):
        return DataError(f"{key}: {msg}", where)

    try:
        if isinstance(action, argparse._StoreTrueAction):  # noqa: SLF001
            if not isinstance(value, bool):
                raise bad(f"expected true or false, got {_show(value)}")
            return value
        if isinstance(action, argparse._AppendAction):  # noqa: SLF001
            if isinstance(value, dict):
                if action.dest == "bounds":
                    items = []
                    for name, pair in value.items():
                        if not isinstance(pair, list) or len(pair) != 2:
                            raise bad(f"{name}: expected [LO, HI], got {_show(pair)}")
                        lo, hi = _float(pair[0]), _float(pair[1])
                        items.append(_bounds_item(f"{name}={lo!r}:{hi!r}"))
                    return items
                if action.dest == "prior":
                    items = []
                    for name, item in value.items():
                        if isinstance(item, list) and len(item) == 2:
                            item = f"{_float(item[0])!r}±{_float(item[1])!r}"
                        items.append(_prior_item(f"{name}={item}"))
                    return items
                return [(str(n), _value_item(f"{n}={_float(v)!r}")[1]) for n, v in value.items()]
            values = value if isinstance(value, list) else [value]
            return [action.type(v) for v in values]
        if action.dest == "method" and isinstance(value, list):
            value = _methods(value)
        if isinstance(value, (dict, list)):
            raise bad(f"expected a single value, got {_show(value)}")
        if action.type is not None:
            value = action.type(value)
        elif not isinstance(value, str):
            value = str(value)
        if action.choices is not None and value not in action.choices:
            raise bad(f"expected one of {', '.join(map(str, action.choices))}, got {_show(value)}")
        return value
    except argparse.ArgumentTypeError as exc:
        raise bad(str(exc)) from None


def _apply_config(parser, command: str, config_path: str) -> None:
    """Set the defaults of a subcommand's parser from a TOML file."""
    subparsers = parser._ljfit_subparsers  # noqa: SLF001
    sub = subparsers[command]
    data = _load_config(config_path)
    section = data.get(command)
    flat = {k: v for k, v in data.items() if not (k in subparsers and isinstance(v, dict))}
    if isinstance(section, dict):
        flat.update(section)
    known_anywhere = set()
    for sp in subparsers.values():
        known_anywhere |= {a.dest for a in sp._actions}  # noqa: SLF001
    actions = {a.dest: a for a in sub._actions if a.dest not in _NOT_CONFIGURABLE}  # noqa: SLF001
    defaults = {}
    for key, value in flat.items():
        dest = str(key).replace("-", "_")
        if dest in actions:
            defaults[dest] = _config_value(actions[dest], key, value, config_path)
        elif dest in _NOT_CONFIGURABLE or dest not in known_anywhere:
            options = ", ".join(sorted(k.replace("_", "-") for k in actions))
            raise DataError(f"unknown option {_show(key)} (options of {command}: {options})",
                            config_path)
        # else: an option of another command, ignored here
    sub.set_defaults(**defaults)


def parse_args(argv):
    """Parse ``argv`` (applying a ``--config`` file); raises _UsageError or LJFitError."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "config", None):
        _apply_config(parser, args.command, args.config)
        args = parser.parse_args(argv)
    return args
