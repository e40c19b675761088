"""The ``ljfit`` command line: ``fit``, ``info``, ``predict`` and ``check-grad``.

Exit codes: 0 success; 2 bad input or usage (one line ``ljfit: error: <file>: <what>`` on
stderr, no traceback); 1 anything unexpected (``ljfit: internal error: ...``, the
traceback only with ``--debug``); 130 interrupted.

Every option of a command can also be set in a TOML file given by ``--config FILE`` (keys
are the option names, with dashes or underscores; a table named after the command, e.g.
``[fit]``, overrides the top-level keys for that command). The command line wins; for the
repeatable options (``--bounds``, ``--fix``, ``--prior``) the entries of both are merged
and the command line wins per parameter name.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import sys
import time
import traceback
import warnings
from pathlib import Path

from . import __version__
from .errors import DataError, FitError, LJFitError
from .params import normalize_mixing, normalize_scope
from .potentials import parse_potential

__all__ = ["main", "build_parser"]

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
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}")
    try:
        return float(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _positive_float(text) -> float:
    v = _float(text)
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return v


def _nonneg_float(text) -> float:
    v = _float(text)
    if not (math.isfinite(v) and v >= 0):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return v


def _int(text, minimum=None) -> int:
    if isinstance(text, bool):
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}")
    if isinstance(text, float) and text.is_integer():
        text = int(text)
    try:
        v = int(str(text).strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if minimum is not None and v < minimum:
        raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
    return v


def _positive_int(text) -> int:
    return _int(text, 1)


def _nonneg_int(text) -> int:
    return _int(text, 0)


def _seed(text) -> int:
    return _int(text, 0)


def _library_type(parse):
    """An argparse type from a library parser: its FitError becomes the usage error, with
    the library's own message (which lists the valid choices), so the two never disagree."""

    def convert(text):
        try:
            return parse(text)
        except FitError as exc:
            raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[-1]) from None

    return convert


_scope = _library_type(normalize_scope)
_mixing = _library_type(normalize_mixing)
_potential = _library_type(lambda text: parse_potential(text).name)


def _methods(text) -> str:
    if isinstance(text, (list, tuple)):
        text = ",".join(map(str, text))
    items = [m.strip() for m in str(text).split(",") if m.strip()]
    if not items:
        raise argparse.ArgumentTypeError("give at least one method")
    return ",".join(items)


def _bootstrap_n(text) -> int:
    n = _int(text, 0)
    if n == 1:
        raise argparse.ArgumentTypeError("expected 0 (no bootstrap) or at least 2 resamples, got 1")
    return n


def _cv(text):
    if str(text).strip().lower() == "loo":
        return "loo"
    try:
        k = _int(text, 2)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected a number of folds K >= 2 or 'loo', got {text!r}"
        ) from None
    return k


def _split_assignment(text, what):
    if not isinstance(text, str) or "=" not in text:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    name, value = text.split("=", 1)
    name = name.strip()
    if not name:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r} (no name)")
    return name, value.strip()


def _bounds_item(text):
    if isinstance(text, tuple):
        return text
    name, value = _split_assignment(text, "NAME=LO:HI, e.g. sigma[Au-C]=2.5:4")
    parts = value.split(":")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(
            f"expected NAME=LO:HI, e.g. sigma[Au-C]=2.5:4, got {text!r}"
        )
    try:
        lo, hi = float(parts[0]), float(parts[1])
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"bounds of {name}: LO and HI must be numbers (or -inf/inf), got {value!r}"
        ) from None
    if math.isnan(lo) or math.isnan(hi) or not lo < hi:
        raise argparse.ArgumentTypeError(f"bounds of {name}: need LO < HI, got {value!r}")
    return name, (lo, hi)


def _value_item(text, what="NAME=VALUE"):
    if isinstance(text, tuple):
        return text
    name, value = _split_assignment(text, f"{what}, e.g. epsilon[Au-C]=0.02")
    try:
        v = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name}: VALUE must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"{name}: VALUE must be finite, got {value!r}")
    return name, v


# ----------------------------------------------------------------------------------------
# the parser
# ----------------------------------------------------------------------------------------

_FIT_EPILOG = """\
examples:
  ljfit fit data/example                           all methods, results/example/
  ljfit fit data/example --method linear,least_squares --out /tmp/run --force
  ljfit fit data/example_tags --scope per-element --mixing geometric
  ljfit fit runs/*.extxyz --groups tags --energy-unit kcal/mol --cutoff 10 --shift
  ljfit fit data/example --fix 'sigma[Au-H]=2.7' --bounds 'epsilon[Au-C]=0.005:0.05'
  ljfit fit data/example --regularization 0.1 --prior 'sigma[Au-O]=3.0'
  ljfit fit data/example --cv loo --bootstrap 200
  ljfit fit data/example --config fit.toml         options from TOML, command line wins

files written: parameters.csv params.json predictions.csv metrics.json lammps.in
               parity.png residuals.png potentials.png correlation.png profiles.png report.md
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
    g.add_argument("--n-substrate", type=_positive_int, metavar="N",
                   help="number of substrate (group A) atoms at the start of each structure")
    g.add_argument("--groups", metavar="HOW",
                   help="tags|fragments|first:N|all|auto|array:NAME (default auto)")
    g.add_argument("--energy-key", metavar="KEY",
                   help="info key or calculator result holding the energy (default energy)")
    g.add_argument("--energy-unit", metavar="UNIT",
                   help="eV|kcal/mol|kJ/mol|Ha: unit of the energies in the files (default eV)")
    g.add_argument("--energies-csv", metavar="FILE", help="CSV file with columns name,energy")
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
    p.add_argument("path", metavar="PATH", help="folder, file or glob pattern of structures")
    _add_reading(p)
    _add_model(p)
    g = p.add_argument_group("fitting")
    g.add_argument("--method", type=_methods, metavar="LIST",
                   help=f"comma list of {_METHODS_HELP}, or all (default: every method "
                        "that applies)")
    g.add_argument("--loss", choices=("linear", "soft_l1", "huber", "cauchy", "arctan"),
                   help="robust loss of least_squares (default linear)")
    g.add_argument("--f-scale", type=_positive_float, metavar="EV",
                   help="residual scale of the robust loss, eV (default 1)")
    g.add_argument("--regularization", type=_nonneg_float, metavar="LAMBDA",
                   help="ridge strength λ >= 0 toward the prior (default 0)")
    g.add_argument("--prior", action="append", type=_value_item, metavar="NAME=VALUE",
                   help="prior value of a parameter for --regularization (repeatable)")
    g.add_argument("--seed", type=_seed, metavar="N", help="random seed (default 0)")
    g.add_argument("--niter", type=_positive_int, metavar="N",
                   help="basinhopping hops (default 100)")
    g.add_argument("--maxiter", type=_positive_int, metavar="N",
                   help="dual_annealing / differential_evolution iterations (default 300)")
    g.add_argument("--n-starts", type=_nonneg_int, metavar="N",
                   help="extra seeded random starts of least_squares (default 0)")
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
                   help="replace DIR when it exists and is not empty")
    g.add_argument("--no-plots", action="store_true", default=None,
                   help="write no figures (and compute no cost profiles)")
    _add_common(p)
    p.set_defaults(func=cmd_fit)

    # info -----------------------------------------------------------------------------
    p = sub.add_parser("info", help="summarise a dataset and which scopes it determines",
                       description="Dataset summary, and for every scope: free parameters "
                                   "against structures and the Jacobian rank at the "
                                   "least_squares starting point; a suggested scope.",
                       formatter_class=_Formatter, epilog=_INFO_EPILOG)
    p.add_argument("path", metavar="PATH")
    _add_reading(p)
    _add_model(p, bounds=False)
    _add_common(p)
    p.set_defaults(func=cmd_info)

    # predict --------------------------------------------------------------------------
    p = sub.add_parser("predict", help="energies of structures with fitted parameters",
                       description="Energies (eV) of structures with the parameters of a "
                                   "params.json: CSV structure,energy (+ reference).",
                       formatter_class=_Formatter, epilog=_PREDICT_EPILOG)
    p.add_argument("params", metavar="PARAMS_JSON", help="params.json written by ljfit fit")
    p.add_argument("path", metavar="PATH")
    _add_reading(p)
    g = p.add_argument_group("output")
    g.add_argument("--out", metavar="FILE", help="CSV file (default: standard output)")
    g.add_argument("--force", action="store_true", default=None,
                   help="replace FILE when it exists")
    _add_common(p)
    p.set_defaults(func=cmd_predict)

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
    p.add_argument("path", metavar="PATH")
    _add_reading(p)
    _add_model(p)
    p.add_argument("--seed", type=_seed, metavar="N", help="seed of the random point (default 0)")
    _add_common(p)
    p.set_defaults(func=cmd_check_grad)

    parser._ljfit_subparsers = sub.choices  # noqa: SLF001 (used by the --config handling)
    return parser


# ----------------------------------------------------------------------------------------
# --config
# ----------------------------------------------------------------------------------------

_NOT_CONFIGURABLE = {"help", "config", "path", "params", "func", "command", "version"}


def _load_config(path) -> dict:
    import tomllib

    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise DataError("config file not found", str(path)) from None
    except OSError as exc:
        raise DataError(f"cannot read the config file ({exc.strerror or exc})", str(path)) from None
    try:
        return tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"not a valid TOML file ({exc})", str(path)) from None


def _config_value(action, key, value, where):
    """Convert one TOML value for an argparse action (type, choices, append)."""
    def bad(msg):
        return DataError(f"{key}: {msg}", where)

    try:
        if isinstance(action, argparse._StoreTrueAction):  # noqa: SLF001
            if not isinstance(value, bool):
                raise bad(f"expected true or false, got {value!r}")
            return value
        if isinstance(action, argparse._AppendAction):  # noqa: SLF001
            if isinstance(value, dict):
                if action.dest == "bounds":
                    items = []
                    for name, pair in value.items():
                        if not isinstance(pair, list) or len(pair) != 2:
                            raise bad(f"{name}: expected [LO, HI], got {pair!r}")
                        lo, hi = _float(pair[0]), _float(pair[1])
                        items.append(_bounds_item(f"{name}={lo!r}:{hi!r}"))
                    return items
                return [(str(n), _value_item(f"{n}={_float(v)!r}")[1]) for n, v in value.items()]
            values = value if isinstance(value, list) else [value]
            return [action.type(v) for v in values]
        if action.dest == "method" and isinstance(value, list):
            value = ",".join(map(str, value))
        if isinstance(value, (dict, list)):
            raise bad(f"expected a single value, got {value!r}")
        if action.type is not None:
            value = action.type(value)
        elif not isinstance(value, str):
            value = str(value)
        if action.choices is not None and value not in action.choices:
            raise bad(f"expected one of {', '.join(map(str, action.choices))}, got {value!r}")
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
            raise DataError(f"unknown option {key!r} (options of {command}: {options})",
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


# ----------------------------------------------------------------------------------------
# shared steps
# ----------------------------------------------------------------------------------------


def _reading_options(args) -> dict:
    return {
        "layout": args.layout or "auto",
        "n_substrate": args.n_substrate,
        "groups": args.groups or "auto",
        "energy_key": args.energy_key or "energy",
        "energy_unit": args.energy_unit or "eV",
        "energies_csv": args.energies_csv,
    }


def _read(path, options: dict, require_energies=True):
    from .io import read_dataset

    return read_dataset(path, require_energies=require_energies, **options)


def _build_model(dataset, args, with_bounds=True, scope=None):
    """The model the options describe (``scope`` overrides ``--scope``)."""
    from .model import LJModel

    model = LJModel(
        dataset,
        scope=scope or args.scope or "per-pair",
        mixing=args.mixing or "lorentz-berthelot",
        potential=args.potential or "lj",
        cutoff=args.cutoff,
        shift=bool(args.shift),
        offset=bool(args.offset),
    )
    if with_bounds:
        spec = model.spec
        bounds = dict(getattr(args, "bounds", None) or [])
        fixed = dict(getattr(args, "fix", None) or [])
        both = sorted(set(bounds) & set(fixed))
        if both:
            raise FitError(f"--bounds and --fix both name {', '.join(both)}")
        if bounds:
            spec = spec.with_bounds(bounds)
        if fixed:
            spec = spec.with_fixed(fixed)
        if bounds or fixed:
            model = model.with_spec(spec)
    return model


def _warning_text(w) -> str:
    """One line: the message, and for anything but a UserWarning its category and origin
    (a numerical RuntimeWarning means little without them)."""
    text = " ".join(str(w.message).split())
    if issubclass(w.category, UserWarning) and w.category is UserWarning:
        return text
    where = f"{Path(w.filename).parent.name}/{Path(w.filename).name}:{w.lineno}"
    return f"{w.category.__name__} in {where}: {text}"


class _Captured:
    """Collect Python warnings raised while running a command (existing filters apply)."""

    def __enter__(self):
        self._cm = warnings.catch_warnings(record=True)
        self.records = self._cm.__enter__()
        return self

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)

    @property
    def messages(self) -> list:
        return list(dict.fromkeys(_warning_text(w) for w in self.records))


def _emit_warnings(messages, quiet):
    if not quiet:
        for m in messages:
            print(f"ljfit: warning: {m}", file=sys.stderr)


def _default_out(dataset) -> Path:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", dataset.name).strip("._") or "dataset"
    return Path("results") / name


def _input_paths(args) -> list:
    paths = []
    for p in (getattr(args, "path", None), getattr(args, "energies_csv", None),
              getattr(args, "config", None)):
        if not p:
            continue
        p = str(p)
        # a glob pattern: protect the folder it looks into
        while any(c in p for c in "*?["):
            p = os.path.dirname(p) or "."
        paths.append(p)
    return paths


# ----------------------------------------------------------------------------------------
# fit
# ----------------------------------------------------------------------------------------


def _fit_options(args, progress) -> dict:
    opts = {"seed": 0 if args.seed is None else args.seed}
    if args.regularization is not None:
        opts["regularization"] = args.regularization
    if args.prior:
        opts["prior"] = dict(args.prior)
    if args.loss is not None:
        opts["loss"] = args.loss
    if args.f_scale is not None:
        opts["f_scale"] = args.f_scale
    if args.niter is not None:
        opts["niter"] = args.niter
    if args.maxiter is not None:
        opts["maxiter"] = args.maxiter
    if args.n_starts is not None:
        opts["n_starts"] = args.n_starts
    opts["progress"] = progress
    return opts


def cmd_fit(args) -> int:
    from . import uncertainty
    from .fitting import fit, methods_for
    from .report import (
        MAX_PROFILE_PARAMETERS,
        FitRun,
        check_output_dir,
        summary_text,
        write_results,
    )

    t0 = time.perf_counter()
    if not args.no_plots:
        import matplotlib

        matplotlib.use("Agg")  # files only, never a window; before pyplot is imported
    quiet = bool(args.quiet)
    progress = False if quiet else None
    read_opts = _reading_options(args)
    protect = _input_paths(args)
    notes = []
    with _Captured() as captured:
        ds = _read(args.path, read_opts)
        out = Path(args.out) if args.out else _default_out(ds)
        check_output_dir(out, bool(args.force), protect)  # fail before the work
        model = _build_model(ds, args)
        methods = methods_for(model, args.method or "all")
        if args.bootstrap and args.bootstrap_method and args.bootstrap_method not in methods:
            raise FitError(
                f"--bootstrap-method {args.bootstrap_method}: not among the methods run "
                f"({', '.join(methods)}); add it to --method")
        opts = _fit_options(args, progress)
        if opts.get("loss", "linear") != "linear" or "f_scale" in opts:
            ignoring = [m for m in methods if m != "least_squares"]
            if ignoring:
                notes.append(f"--loss/--f-scale apply to least_squares only; "
                             f"{', '.join(ignoring)} minimise the plain squared error")
        results = {}
        for m in methods:
            results[m] = fit(model, ds, m, **opts)
        run = FitRun(ds, model, results, read_options=read_opts,
                     fit_options={k: v for k, v in opts.items() if k != "progress"},
                     notes=notes, t0=t0)
        best = run.best
        if best is None:
            notes.append("no method succeeded with defined parameters: params.json holds "
                         "no usable parameters")
        fit_kw = {k: v for k, v in opts.items() if k not in ("seed", "progress")}
        if args.cv is not None:
            run.cv, run.cv_k = {}, args.cv
            for m, r in results.items():
                if r.success and r.defined:
                    run.cv[m] = uncertainty.cross_validate(
                        model, ds, method=m, k=args.cv, seed=opts["seed"], result=r,
                        progress=False, **fit_kw)
            skipped = [m for m in results if m not in run.cv]
            if skipped:
                notes.append(f"cross-validation skipped for {', '.join(skipped)} "
                             "(not converged or parameters undefined)")
        if args.bootstrap:
            bm = args.bootstrap_method or best
            if bm is None:
                notes.append("bootstrap skipped: no method succeeded with defined parameters")
            else:
                run.bootstrap_method = bm
                run.bootstrap = uncertainty.bootstrap(
                    model, ds, method=bm, n=args.bootstrap, seed=opts["seed"],
                    result=results.get(bm), progress=progress, **fit_kw)
        if not args.no_plots and best is not None:
            if results[best].correlation is None:
                notes.append("correlation.png skipped: the best fit has no correlation matrix "
                             "(no more structures than free parameters, or a rank-deficient "
                             "Jacobian)")
            if model.n_free > MAX_PROFILE_PARAMETERS:
                notes.append(f"profiles.png skipped: {model.n_free} free parameters "
                             f"(more than {MAX_PROFILE_PARAMETERS})")
            else:
                try:
                    run.profiles = uncertainty.profiles(model, ds, results[best])
                except LJFitError as exc:  # keep the fit: note why there is no figure
                    notes.append(f"profiles.png skipped: {exc}")
        notes.extend(m for m in captured.messages if m not in notes)
        write_results(run, out, force=bool(args.force), plots=not args.no_plots,
                      protect=protect)
    if not quiet:
        print(summary_text(run, out))
    return 0


# ----------------------------------------------------------------------------------------
# info
# ----------------------------------------------------------------------------------------

#: finest first: the order scopes are listed in
_SCOPE_ORDER = ("per-site", "per-pair", "per-element")


def _scope_report(ds, args, scope):
    """One row of ``ljfit info``: dict with n_free, rank, determined, note."""
    import numpy as np

    from .fitting import Problem, starting_point
    from .fitting.result import diagnose

    row = {"scope": scope}
    try:
        model = _build_model(ds, args, with_bounds=False, scope=scope)
    except LJFitError as exc:
        row["error"] = str(exc)
        return row
    m = len(ds)
    row["n_free"] = model.n_free
    row["n_structures"] = m
    energies = ds.energies if ds.has_energies else np.zeros(m)
    problem = Problem(model, energies, ds.weights if ds.has_energies else None)
    if ds.has_energies:
        x0, how = starting_point(problem)
    else:
        x0, how = model.spec.x0, "spec values"
    row["start"] = how
    jac = model.jacobian(x0)
    norms = np.linalg.norm(jac, axis=0)
    js = jac / np.where(norms > 0, norms, 1.0)
    row["rank"] = int(np.linalg.matrix_rank(js))
    if model.linear:
        X, cols = model.design_matrix()
        xn = np.linalg.norm(X, axis=0)
        row["design_rank"] = int(np.linalg.matrix_rank(X / np.where(xn > 0, xn, 1.0)))
        row["design_columns"] = len(cols)
    full_rank = row["rank"] == model.n_free and model.n_free < m
    row["full_rank"] = full_rank
    row["correlated"] = False
    if full_rank and ds.has_energies:
        d = diagnose(problem, x0, method="start")
        corr = d.correlation
        if corr is not None and corr.shape[0] > 1:
            off = np.abs(corr - np.eye(corr.shape[0]))
            row["max_correlation"] = float(np.nanmax(off))
            row["correlated"] = bool(d.underdetermined)
    return row


def _status(row) -> str:
    if "error" in row:
        return f"not applicable: {row['error']}"
    if row["n_free"] >= row["n_structures"]:
        return (f"underdetermined: {row['n_free']} free parameters >= "
                f"{row['n_structures']} structures")
    if not row["full_rank"]:
        return f"underdetermined: Jacobian rank {row['rank']} < {row['n_free']} free parameters"
    if row["correlated"]:
        return (f"full rank, but parameters correlated at |r| = "
                f"{row.get('max_correlation', float('nan')):.4f} (poorly determined)")
    return "determined"


def _suggest(rows):
    """The simplest scope the data determine well (fewest free parameters among full-rank,
    uncorrelated scopes; else among full-rank ones)."""
    ok = [r for r in rows if "error" not in r and r["full_rank"]]
    good = [r for r in ok if not r["correlated"]]
    pool = good or ok
    if not pool:
        return None, ("none: every scope is underdetermined by this data; fix parameters "
                      "(--fix), add --regularization with --prior, or add structures")
    best = min(pool, key=lambda r: (r["n_free"], _SCOPE_ORDER.index(r["scope"])))
    why = ("the simplest scope the data determine" if good else
           "the simplest full-rank scope; its parameters are strongly correlated, consider "
           "fixing some or --regularization")
    return best["scope"], why


def cmd_info(args) -> int:
    read_opts = _reading_options(args)
    with _Captured() as captured:
        ds = _read(args.path, read_opts, require_energies=False)
        rows = [_scope_report(ds, args, s) for s in _SCOPE_ORDER]
    _emit_warnings(captured.messages, args.quiet)
    if args.quiet:
        return 0
    print(ds.describe())
    if not ds.has_energies:
        print("(no reference energies: ranks at the default parameter values)")
    print()
    print(f"{'scope':<12s} {'free':>5s} {'structures':>10s} {'rank':>5s} {'design':>7s}  status")
    for r in rows:
        if "error" in r:
            print(f"{r['scope']:<12s} {'-':>5s} {'-':>10s} {'-':>5s} {'-':>7s}  {_status(r)}")
            continue
        design = f"{r['design_rank']}/{r['design_columns']}" if "design_rank" in r else "-"
        print(f"{r['scope']:<12s} {r['n_free']:>5d} {r['n_structures']:>10d} {r['rank']:>5d} "
              f"{design:>7s}  {_status(r)}")
    print("(rank: of the Jacobian at the least_squares starting point; design: rank of the "
          "linear design matrix / columns)")
    scope, why = _suggest(rows)
    print(f"suggested scope: {scope} ({why})" if scope else f"suggested scope: {why}")
    return 0


# ----------------------------------------------------------------------------------------
# predict
# ----------------------------------------------------------------------------------------


def _load_params(path):
    import json

    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError("no such file", str(path)) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"not a JSON parameter file ({exc})", str(path)) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("model"), dict) \
            or not isinstance(doc.get("parameters"), dict):
        raise DataError("not an ljfit params.json: needs 'model' and 'parameters'", str(path))
    model = doc["model"]
    if "scope" not in model:
        raise DataError("not an ljfit params.json: the model has no 'scope'", str(path))
    values = doc["parameters"]
    bad = [n for n, v in values.items()
           if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)]
    if bad or not values:
        raise DataError(
            "the parameters are undefined (the fit found no defined optimum): "
            + (", ".join(bad[:6]) or "none given"), str(path))
    return doc


def cmd_predict(args) -> int:
    import numpy as np
    import pandas as pd

    from .model import LJModel
    from .report import FLOAT_FORMAT

    doc = _load_params(args.params)
    rec = doc["model"]
    layout = args.layout
    if layout is None:  # the recorded layout, where it can read PATH
        recorded = rec.get("layout")
        folder = Path(os.path.expanduser(str(args.path)))
        seed_ok = (recorded == "seed" and folder.is_dir()
                   and any(folder.glob("p_*_extended.xyz")))
        layout = recorded if recorded == "ase" or seed_ok else "auto"
    opts = {
        "layout": layout,
        "n_substrate": args.n_substrate,
        "groups": args.groups or rec.get("groups") or rec.get("read_groups") or "auto",
        "energy_key": args.energy_key or rec.get("energy_key") or "energy",
        "energy_unit": args.energy_unit or rec.get("energy_unit") or "eV",
        "energies_csv": args.energies_csv,
    }
    if args.out and Path(args.out).exists() and not args.force:
        raise DataError("the output file exists; use --force to replace it", args.out)
    with _Captured() as captured:
        ds = _read(args.path, opts, require_energies=False)
        if ds.interaction != (rec.get("energy", "interaction") == "interaction"):
            raise DataError(
                f"the parameters were fitted to {rec.get('energy')} energies but these "
                f"structures have {'two groups' if ds.interaction else 'no groups'}; set "
                "--groups", str(args.path))
        try:
            model = LJModel(
                ds, scope=rec["scope"], mixing=rec.get("mixing") or "lorentz-berthelot",
                potential=rec.get("potential") or "lj", cutoff=rec.get("cutoff"),
                shift=bool(rec.get("shift")), offset=bool(rec.get("offset")),
            )
        except FitError as exc:
            raise DataError(str(exc), str(args.path)) from None
        values = doc["parameters"]
        missing = [n for n in model.spec.names if n not in values]
        if missing:
            raise DataError(
                f"{args.params} has no parameter {', '.join(missing[:6])} needed by these "
                "structures (element pairs or sites the fit did not see)", str(args.path))
        energies = model.energies({n: float(values[n]) for n in model.spec.names})
    _emit_warnings(captured.messages, args.quiet)
    data = {"structure": ds.names, "energy": energies}
    ref = ds.energies
    if np.isfinite(ref).any():
        data["reference"] = ref
    df = pd.DataFrame(data)
    text = df.to_csv(index=False, float_format=FLOAT_FORMAT, na_rep="", lineterminator="\n")
    if args.out:
        out = Path(args.out)
        if out.parent and not out.parent.exists():
            out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.ljfit-tmp")
        try:
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, out)
        finally:
            if tmp.exists():
                tmp.unlink()
    else:
        sys.stdout.write(text)
    return 0


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

    from .fitting.local import _inside

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

    from .fitting import Problem, starting_point

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


# ----------------------------------------------------------------------------------------
# main
# ----------------------------------------------------------------------------------------


def _blas_threads():
    """Single-threaded BLAS for the run (unless the user set a thread count): the matrices
    are tiny (structures × parameters), so threads bring nothing, and on a loaded machine
    OpenBLAS threads spinning in every small L-BFGS-B / SVD call slowed a basinhopping fit of
    the example from 1 s to 35 s. (Each fit limits itself too; this also covers the
    featurisation, profiles and bootstrap around the fits.)"""
    if any(v in os.environ for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                     "MKL_NUM_THREADS")):
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _one_line(text) -> str:
    return " ".join(str(text).split())


def main(argv=None) -> int:
    """Run the command line; returns the exit code (0, 1, 2 or 130)."""
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    debug = "--debug" in argv
    try:
        args = parse_args(argv)
    except SystemExit as exc:  # --help, --version
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    except _UsageError as exc:
        print(f"ljfit: error: {_one_line(exc)} (see '{exc.prog} --help')", file=sys.stderr)
        return 2
    except LJFitError as exc:
        print(f"ljfit: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    debug = debug or bool(getattr(args, "debug", False))
    try:
        with _blas_threads():
            return args.func(args)
    except LJFitError as exc:
        if debug:
            traceback.print_exc()
        print(f"ljfit: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ljfit: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        if debug:
            traceback.print_exc()
        where = exc.filename if exc.filename is not None else ""
        what = exc.strerror or str(exc)
        print(f"ljfit: error: {where}: {_one_line(what)}" if where
              else f"ljfit: error: {_one_line(what)}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - the last resort of the command line
        if debug:
            traceback.print_exc()
            print(f"ljfit: internal error: {type(exc).__name__}: {_one_line(exc)}",
                  file=sys.stderr)
        else:
            print(f"ljfit: internal error: {type(exc).__name__}: {_one_line(exc)} "
                  "(run with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
