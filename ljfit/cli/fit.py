"""``ljfit fit``: read, fit with one or more methods, write the results folder."""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

from ..errors import FitError, LJFitError
from .common import (
    _build_model,
    _Captured,
    _default_out,
    _feature_options,
    _input_paths,
    _plan,
    _read,
    _reading_options,
)

# ----------------------------------------------------------------------------------------
# fit
# ----------------------------------------------------------------------------------------


def _fit_options(args, progress) -> dict:
    opts = {"seed": 0 if args.seed is None else args.seed}
    if args.regularization is not None:
        raise FitError("--regularization was removed: it pulled every parameter without a "
                       "prior toward a default with a dimensionless strength; state Gaussian "
                       "priors on the parameters you know instead, e.g. --prior "
                       "'sigma[Au-O]=3.0±0.1' (value ± width in the parameter's unit)")
    if args.prior:
        opts["priors"] = dict(args.prior)
    if args.absolute_sigma:
        opts["absolute_sigma"] = True
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


def _cores() -> int:
    """The cores this process may run on (its affinity mask, else the machine's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _import_fit_and_report() -> None:
    """Import what fitting and writing the results need; with --jobs/--scheduler while the
    parts are read elsewhere. (Only ljfit's modules: scipy.optimize is imported by the
    methods that need it, and the LAMMPS data file is written without ase.io, whose import
    -- ~1 s, through scipy.integrate -- would compete with the parts for the cores.)"""
    from .. import report  # noqa: F401
    from ..fitting import fit  # noqa: F401


def cmd_fit(args) -> int:
    t0 = time.perf_counter()
    if not args.no_plots:
        import matplotlib

        matplotlib.use("Agg")  # files only, never a window; before pyplot is imported
    quiet = bool(args.quiet)
    progress = False if quiet else None
    read_opts = _reading_options(args)
    notes = []
    with _Captured() as captured:
        jobs = args.jobs or 1
        scheduler = args.scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS") or None
        features = None
        if jobs > 1 or scheduler:
            from .. import parallel

            with parallel.submit(args.path, read_opts, _feature_options(args), jobs=jobs,
                                 scheduler=scheduler) as parts:
                _import_fit_and_report()  # meanwhile
                protect = _input_paths(args, every_file=False)  # --out is a folder
                ds, features, messages = parts.result()
            for message in messages:  # the parts' warnings, once each
                warnings.warn(message, UserWarning, stacklevel=1)
        else:
            protect = _input_paths(args, every_file=False)
            ds = _read(args.path, read_opts)
        from ..fitting import auto_options, fit, methods_for
        from ..report import (
            MAX_PROFILE_PARAMETERS,
            FitRun,
            claim_output_dir,
            summary_text,
            write_results,
        )

        out = Path(args.out) if args.out else _default_out(ds)
        claim_output_dir(out, bool(args.force), protect)  # fail (and lock) before the work
        fit_plan = _plan(ds, args)
        notes.extend(fit_plan.notes)
        model = _build_model(ds, args, fit_plan=fit_plan, features=features)
        opts = _fit_options(args, progress)
        opts["sigmas"] = fit_plan.sigmas
        methods = methods_for(model, args.method or "auto", priors=opts.get("priors"))
        per_method = auto_options(model, args.method or "auto", priors=opts.get("priors"))
        if args.bootstrap and args.bootstrap_method and args.bootstrap_method not in methods:
            raise FitError(
                f"--bootstrap-method {args.bootstrap_method}: not among the methods run "
                f"({', '.join(methods)}); add it to --method")
        if opts.get("loss", "linear") != "linear" or "f_scale" in opts:
            ignoring = [m for m in methods if m != "least_squares"]
            if ignoring:
                notes.append(f"--loss/--f-scale apply to least_squares only; "
                             f"{', '.join(ignoring)} minimise the plain squared error")
        results = {}
        for m in methods:
            results[m] = fit(model, ds, m, **{**per_method.get(m, {}), **opts})
        run = FitRun(ds, model, results, read_options=read_opts,
                     fit_options={k: v for k, v in opts.items()
                                  if k not in ("progress", "sigmas")},
                     notes=notes, t0=t0, plan=fit_plan)
        best = run.best
        if best is None:
            notes.append("no method succeeded with defined parameters: params.json holds "
                         "no usable parameters")
        fit_kw = {k: v for k, v in opts.items() if k not in ("seed", "progress")}
        # ljfit.uncertainty (cross-validation, bootstrap, the profiles of the figures) is
        # imported where it is used: ~10 ms that a plain fit does not need
        if args.cv is not None:
            from .. import uncertainty

            run.cv, run.cv_k = {}, args.cv
            for m, r in results.items():
                if r.success and r.defined:
                    run.cv[m] = uncertainty.cross_validate(
                        model, ds, method=m, k=args.cv, seed=opts["seed"], result=r,
                        progress=False, **{**per_method.get(m, {}), **fit_kw})
            skipped = [m for m in results if m not in run.cv]
            if skipped:
                notes.append(f"cross-validation skipped for {', '.join(skipped)} "
                             "(not converged or parameters undefined)")
        if args.bootstrap:
            bm = args.bootstrap_method or best
            if bm is None:
                notes.append("bootstrap skipped: no method succeeded with defined parameters")
            else:
                from .. import uncertainty

                run.bootstrap_method = bm
                run.bootstrap = uncertainty.bootstrap(
                    model, ds, method=bm, n=args.bootstrap, seed=opts["seed"],
                    result=results.get(bm), progress=progress,
                    **{**per_method.get(bm, {}), **fit_kw})
        if not args.no_plots and best is not None:
            if results[best].correlation is None:
                notes.append("correlation.png skipped: the best fit has no correlation matrix "
                             "(no more structures than free parameters, or a rank-deficient "
                             "Jacobian)")
            if model.n_free > MAX_PROFILE_PARAMETERS:
                notes.append(f"profiles.png skipped: {model.n_free} free parameters "
                             f"(more than {MAX_PROFILE_PARAMETERS})")
            else:
                from .. import uncertainty

                try:
                    run.profiles = uncertainty.profiles(
                        model, ds, results[best], sigmas=fit_plan.sigmas,
                        priors=opts.get("priors"),
                        spans=uncertainty.bootstrap_spans(results[best], run.bootstrap))
                except LJFitError as exc:  # keep the fit: note why there is no figure
                    notes.append(f"profiles.png skipped: {exc}")
        notes.extend(m for m in captured.messages if m not in notes)
        write_results(run, out, force=bool(args.force), plots=not args.no_plots,
                      protect=protect, workers=min(2, _cores()))
    if not quiet:
        print(summary_text(run, out))
    return 0
