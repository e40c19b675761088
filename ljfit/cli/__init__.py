"""The ``ljfit`` command line: ``fit``, ``info``, ``predict`` and ``check-grad``.

Exit codes: 0 success; 2 bad input or usage (one line ``ljfit: error: <file>: <what>`` on
stderr, no traceback); 1 anything unexpected (``ljfit: internal error: ...``, the
traceback only with ``--debug``); 130 interrupted by Ctrl-C (SIGINT), 143 by SIGTERM (one
line ``ljfit: interrupted``, at any moment, imports included; see :mod:`ljfit._signals`).

This package is the console script's entry point, so importing it stays cheap (no numpy,
scipy or ASE): :func:`main` installs the signal handlers first and only then imports the
command it runs.

Every option of a command can also be set in a TOML file given by ``--config FILE`` (keys
are the option names, with dashes or underscores; a table named after the command, e.g.
``[fit]``, overrides the top-level keys for that command). The command line wins; for the
repeatable options (``--bounds``, ``--fix``, ``--prior``) the entries of both are merged
and the command line wins per parameter name.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import traceback

from .. import _signals
from ..errors import LJFitError
from .options import _UsageError, build_parser, parse_args

__all__ = ["main", "build_parser", "parse_args"]

#: longest message printed (a message quoting a 1 MB line of a file is no help)
_MAX_MESSAGE = 400


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
    # numpy first: threadpoolctl limits the BLAS libraries already loaded, and at this
    # point nothing has imported numpy yet (the featurisation then ran with every core's
    # OpenBLAS thread). scipy's own BLAS, loaded with scipy later, is limited by each fit.
    import numpy  # noqa: F401
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _one_line(text) -> str:
    """Whitespace runs folded to one space; an overlong text keeps its start and its end."""
    text = " ".join(str(text).split())
    if len(text) > _MAX_MESSAGE:
        keep = _MAX_MESSAGE // 2 - 10
        text = f"{text[:keep]} [... {len(text) - 2 * keep} characters ...] {text[-keep:]}"
    return text


def _interrupted() -> int:
    print("ljfit: interrupted", file=sys.stderr)
    return _signals.exit_code()


def _release_output_locks() -> None:
    """Release the results-folder locks this run still holds (an error or an interrupt
    before the folder was written); only if the results writer was ever imported."""
    folder = sys.modules.get("ljfit.report.folder")
    if folder is not None:
        folder.release_claims()


def main(argv=None) -> int:
    """Run the command line; returns the exit code (0, 1, 2, 130 or 143)."""
    restore = None
    try:
        # first: a Ctrl-C from here on ends in one line -- inside the try, since the handler
        # is live as soon as install() sets it, before install() returns
        restore = _signals.install()
        return _main(argv)
    except KeyboardInterrupt:  # between the handlers of _main (e.g. while printing)
        return _interrupted()
    finally:
        try:
            _release_output_locks()
        finally:
            if restore is not None:
                restore()


def _main(argv) -> int:
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
    except KeyboardInterrupt:
        return _interrupted()
    debug = debug or bool(getattr(args, "debug", False))
    try:
        with _blas_threads():
            module, name = args.func.split(":")
            command = getattr(importlib.import_module(f"ljfit.cli.{module}"), name)
            return command(args)
    except LJFitError as exc:
        if debug:
            traceback.print_exc()
        print(f"ljfit: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return _interrupted()
    except OSError as exc:
        if debug:
            traceback.print_exc()
        where = exc.filename if exc.filename is not None else ""
        what = exc.strerror or str(exc)
        print(f"ljfit: error: {where}: {_one_line(what)}" if where
              else f"ljfit: error: {_one_line(what)}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - the last resort of the command line
        if _signals.received() is not None:
            # the signal's KeyboardInterrupt, wrapped by the C code it landed in (a pybind11
            # extension being imported re-raises it as "ImportError: initialization failed")
            if debug:
                traceback.print_exc()
            return _interrupted()
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
