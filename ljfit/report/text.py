"""Text for people: report.md and the terminal summary."""

from __future__ import annotations

import os
from pathlib import Path

from .lammps import _g
from .run import FitRun, _num, model_record, prior_lines

# ----------------------------------------------------------------------------------------
# text: report.md and the terminal summary
# ----------------------------------------------------------------------------------------


def _fmt(v, digits=6) -> str:
    v = _num(v)
    return "—" if v is None else f"{v:.{digits}g}"


def _md_table(header, rows) -> list:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def markdown_report(run: FitRun, figures=()) -> str:
    """``report.md``: dataset, model, parameters with uncertainties, metrics, warnings,
    cross-validation, bootstrap, figures. No times (they are in metrics.json)."""
    ds, model, spec = run.dataset, run.model, run.model.spec
    best = run.best
    lines = [f"# ljfit report: {ds.name}", ""]
    lines += ["## Dataset", "", "```", ds.describe(), "```", ""]
    rec = model_record(model, ds, run.read_options)
    lines += ["## Model", ""]
    pot = model.potential
    lines += _md_table(
        ["setting", "value"],
        [
            ["scope", rec["scope"]],
            ["mixing", rec["mixing"] or "—"],
            ["potential", f"{pot.name} (n = {pot.n:g}, m = {pot.m:g})"],
            ["cutoff", "none" if rec["cutoff"] is None else f"{rec['cutoff']:g} Å"],
            ["shift", "yes" if rec["shift"] else "no"],
            ["offset", "fitted" if rec["offset"] else "no"],
            ["reference energies e0", _e0_text(run)],
            ["energy", rec["energy"]],
            ["groups", rec["groups"] or rec["group_mode"] or "—"],
            ["slots", ", ".join(map(str, rec["slots"]))],
            ["free parameters", f"{model.n_free} (structures: {len(ds)})"],
            ["priors", "; ".join(prior_lines(run)) or "none"],
            ["standard errors", "sigmas are the true errors (absolute sigma)"
             if run.fit_options.get("absolute_sigma") else "scaled by the reduced χ²"],
            ["seed", run.fit_options.get("seed")],
        ],
    )
    lines.append("")
    fixed = [p for p in spec if not p.vary]
    if fixed:
        lines += ["Fixed: " + ", ".join(f"{p.name} = {_g(p.value)} {p.unit}" for p in fixed), ""]
    lines += ["## Observables and weights", "", observables_line(run) + ".", ""]
    if run.plan is not None:
        lines += [
            "Each residual is divided by the expected error of its reference (the sigma), and "
            "the cost is ½ Σ (residual/σ)² over every observable; a structure's `weight` "
            "multiplies 1/σ² of all its observables. " + (
                "Standard errors take the sigmas as the true errors (absolute sigma)."
                if run.fit_options.get("absolute_sigma")
                else "Standard errors are scaled by the reduced χ² of the fit."), ""]
        for note in run.plan.notes:
            lines.append(f"- {note}")
        if run.plan.notes:
            lines.append("")

    lines += ["## Best fit", ""]
    if best is None:
        lines += [
            "**No method succeeded with defined parameters**: `params.json` holds no usable "
            "parameters. See the warnings below.",
            "",
        ]
    else:
        res = run.results[best]
        status = ", ".join(res.flags)
        det = {"ok": "determined"}.get(status, f"**{status}** (see warnings)")
        lines += [f"Method **{best}** (lowest cost), {det}.", ""]
        boot = run.bootstrap if run.bootstrap_method == best else None
        header = ["parameter", "value", "std. error", "unit"]
        if boot is not None:
            lev = getattr(boot, "level", 0.95)
            header += [f"bootstrap {100 * float(lev):g}% interval"]
        rows = []
        for p in spec:
            value, se = _fmt(res.params.get(p.name), 8), _stderr_text(res, p)
            if p.name in res.undetermined:
                value = "not determined"
            row = [f"`{p.name}`", value, se, p.unit]
            if boot is not None:
                row.append(_interval_text(boot, p.name) if p.vary else "—")
            rows.append(row)
        lines += _md_table(header, rows) + [""]
        if res.determined_combinations:
            lines += ["What the data determine (the pair values of the mixing rule):", ""]
            lines += _md_table(
                ["pair value", "=", "value", "std. error", "unit"],
                [[f"`{c['name']}`", f"`{c['formula']}`", _fmt(c["value"], 8),
                  _fmt(c["stderr"], 3), c["unit"]] for c in res.determined_combinations]
            ) + [""]
        chi = res.chi2_text()
        lines += [chi[:1].upper() + chi[1:] + ".", ""]
        if res.notes:
            lines += [f"- note: {t}" for t in res.notes] + [""]

    lines += ["## Parameters by method", ""]
    methods = list(run.results)
    rows = [[f"`{p.name}`", p.unit] + [_fmt(run.results[m].params.get(p.name), 7)
                                        for m in methods] for p in spec]
    lines += _md_table(["parameter", "unit"] + methods, rows) + [""]

    lines += ["## Metrics per method", ""]
    kinds = [k for k in ("forces", "stress") if k in model.observables]
    rows = []
    for m, r in run.results.items():
        rows.append([
            m + (" (best)" if m == best else ""),
            _fmt(r.cost, 4), _fmt(1000 * r.rmse, 4), _fmt(1000 * r.mae, 4),
            _fmt(1000 * r.max_abs_error, 4),
            *[_fmt(1000 * r.observed[k]["rmse"], 4) if k in r.observed else "—"
              for k in kinds],
            _fmt(r.r2, 6), _fmt(r.reduced_chi2, 4), r.nfev,
            "yes" if r.success else "**no**",
            "ok" if r.status == "ok" else f"**{', '.join(r.flags)}**",
        ])
    lines += _md_table(
        ["method", "cost (χ²/2)", "E RMSE (meV)", "E MAE (meV)", "E max abs. error (meV)",
         *[f"{_KIND_HEAD[k]} {_KIND_UNIT[k]}" for k in kinds], "R² (E)", "reduced χ²",
         "nfev", "converged", "status"],
        rows,
    ) + [""]
    for m, r in run.results.items():
        if r.message:
            lines.append(f"- {m}: {r.message}")
        loss = _loss_text(r)
        if loss:
            lines.append(f"- {m}: {loss}")
    lines.append("")
    cert = certificate_lines(run)
    if cert:
        lines += ["### Global optimality", ""] + [f"- {c}" for c in cert] + [""]

    warns = run.all_warnings()
    lines += ["## Warnings", ""]
    lines += [f"- {w}" for w in warns] if warns else ["None."]
    lines.append("")

    if run.cv is not None:
        lines += [f"## Cross-validation ({run.cv_k}{'-fold' if run.cv_k != 'loo' else ''})", ""]
        rows = [[m, _fmt(1000 * c.rmse, 4), _fmt(1000 * c.mae, 4),
                 _fmt(1000 * c.train_rmse, 4), "; ".join(c.warnings) or "—"]
                for m, c in run.cv.items()]
        lines += _md_table(
            ["method", "held-out RMSE (meV)", "held-out MAE (meV)", "training RMSE (meV)",
             "warnings"], rows) + [""]
        lines += ["Held-out predictions are the `<method>_cv` columns of `predictions.csv`.", ""]

    if run.bootstrap is not None:
        b = run.bootstrap
        lines += [f"## Bootstrap ({run.bootstrap_method})", ""]
        reason = getattr(b, "reason", None)
        if reason:
            lines += [f"Intervals undefined: {reason}.", ""]
        else:
            rows = [[f"`{n}`", _fmt(b.mean.get(n), 7), _fmt(b.std.get(n), 3),
                     _fmt(b.ci_low.get(n), 7), _fmt(b.ci_high.get(n), 7)] for n in b.names]
            lines += _md_table(["parameter", "mean", "std", "ci_low", "ci_high"], rows) + [""]

    if figures:
        lines += ["## Figures", ""]
        for name in figures:
            stem = Path(name).stem
            lines += [f"![{stem}]({name})", ""]
    lines += ["## Files", "",
              "- `parameters.csv`: every method's parameters (long format)",
              "- `params.json`: the best fit, for `ljfit predict` and `LJCalculator.from_file`",
              "- `predictions.csv`: reference and predicted energies (eV)",
              "- `predictions_forces.csv`, `predictions_stress.csv`: the same for force "
              "components (eV/Å) and stress components (eV/Å³), when they were fitted",
              "- `metrics.json`: metrics, warnings, options and wall times",
              "- `pair.lmp`: LAMMPS pair_style / pair_coeff lines of the best fit (include "
              "after read_data)",
              "- `in.lammps`, `structure.data`: a LAMMPS run of the first structure "
              "(`lmp -in in.lammps` in this folder)", ""]
    return "\n".join(lines)


_KIND_HEAD = {"forces": "F RMSE", "stress": "S RMSE"}
_KIND_UNIT = {"forces": "(meV/Å)", "stress": "(meV/Å³)"}


def _e0_text(run) -> str:
    if not run.model.reference_energies:
        return "no"
    fixed = [p for p in run.model.spec if p.kind == "e0" and not p.vary]
    return "fixed (from a file)" if fixed else "fitted (one per element)"


def observables_line(run: FitRun) -> str:
    """What was fitted, with which sigmas, and what the energies are, in one line."""
    ds, model = run.dataset, run.model
    n = model.n_rows
    parts = [f"{n['energy']} energies"]
    if n["forces"]:
        parts.append(f"{n['forces']} force components")
    if n["stress"]:
        parts.append(f"{n['stress']} stress components")
    mode = ("interaction energies between group A and group B: only A–B pairs count"
            if ds.interaction else "total energies: every pair counts")
    text = f"fitted: {', '.join(parts)}; {mode}"
    if model.reference_energies:
        text += "; per-element reference energies e0"
    if run.plan is not None:
        text += f"; sigmas: {run.plan.sigmas.text()}"
    return text


def certificate_lines(run: FitRun) -> list:
    """What is proved about global optimality, one sentence per finding: the methods whose
    result is the certified global optimum under the bounds, the gap of the others to the
    certified lower bound, and for a mixing rule what it costs over the certified per-pair
    optimum (``[]`` when nothing is known)."""
    certified, gaps, pair = [], [], None
    for m, r in run.results.items():
        gap = _num(getattr(r, "gap", None))
        if getattr(r, "certified", False):
            certified.append(m)
        elif gap is not None:
            gaps.append(f"{m} within {gap:.3g} (relative) of the lower bound "
                        f"{_fmt(r.lower_bound, 10)}")
        if pair is None and _num(r.extra.get("per_pair_lower_bound")) is not None:
            pair = r.extra["per_pair_lower_bound"]
    lines = []
    if certified:
        lines.append("certified global optimum under the bounds: " + ", ".join(certified))
    if gaps:
        lines.append("not certified: " + "; ".join(gaps))
    if pair is not None and run.best_result is not None:
        best = run.best_result
        price = best.cost - pair
        rel = f" (+{100 * price / pair:.3g} %)" if pair > 0 else ""
        lines.append(
            f"the mixing rule costs {price:.4g}{rel} over the certified per-pair optimum "
            f"{_fmt(pair, 8)} (costs χ²/2) under the bounds the element bounds imply (a lower "
            "bound of any mixing-rule fit)"
        )
    return lines


def _stderr_text(res, p) -> str:
    """The standard-error cell of a parameter: fixed, at bound, not determined, or ± se."""
    if not p.vary:
        return "fixed"
    if p.name in res.at_bound:
        return f"at {res.at_bound[p.name]} bound"
    if p.name in res.undetermined:
        return "—"
    return _fmt(res.stderr.get(p.name), 3)


def _interval_text(boot, name) -> str:
    """A bootstrap interval, or why there is none."""
    reason = getattr(boot, "reason", None)
    if reason:
        return "undefined"
    lo, hi = _num(boot.ci_low.get(name)), _num(boot.ci_high.get(name))
    return "—" if lo is None or hi is None else f"[{lo:.6g}, {hi:.6g}]"


def _loss_text(r) -> str:
    """The robust loss of a least_squares fit and its residual scale, or ''."""
    loss = r.extra.get("loss")
    if not loss or loss == "linear":
        return ""
    fs = r.extra.get("f_scale")
    how = r.extra.get("f_scale_source", "given")
    fs = _num(fs)
    scale = "—" if fs is None else f"{1000 * fs:.4g} meV"
    return f"robust loss {loss}, f_scale {scale} of weighted residual ({how})"


def summary_text(run: FitRun, out=None) -> str:
    """A short table for the terminal: per-method cost and RMSE, the best parameters,
    warnings and the output folder."""
    ds, model = run.dataset, run.model
    kinds = [k for k in ("forces", "stress") if k in model.observables]
    lines = [
        f"{ds.name}: {len(ds)} structures, {', '.join(ds.elements)}; model {model.scope} "
        f"{model.potential.name}, {model.n_free} free parameters",
        observables_line(run),
    ]
    priors = prior_lines(run)
    if priors:
        lines.append("priors: " + "; ".join(priors))
    lines += [
        "",
        f"{'method':<16s} {'cost':>11s} {'E RMSE':>9s}"
        + "".join(f" {_KIND_HEAD[k]:>10s}" for k in kinds) + f" {'R²':>9s}  status",
        f"{'':<16s} {'(χ²/2)':>11s} {'(meV)':>9s}"
        + "".join(f" {_KIND_UNIT[k]:>10s}" for k in kinds) + f" {'(E)':>9s}",
    ]
    best = run.best
    for m, r in run.results.items():
        status = ", ".join(r.flags)
        if m == best:
            status += "  <- best"
        extra = "".join(f" {_fmt(1000 * r.observed[k]['rmse'], 4) if k in r.observed else '—':>10s}"
                        for k in kinds)
        lines.append(f"{m:<16s} {_fmt(r.cost, 4):>11s} {_fmt(1000 * r.rmse, 4):>9s}{extra} "
                     f"{_fmt(r.r2, 5):>9s}  {status}")
    cert = certificate_lines(run)
    if cert:
        lines += [""] + cert
    lines.append("")
    if best is None:
        lines.append("no method succeeded with defined parameters")
    else:
        res = run.results[best]
        boot = run.bootstrap if run.bootstrap_method == best else None
        lines.append(f"best fit ({best}):")
        reason = getattr(boot, "reason", None) if boot is not None else None
        for p in model.spec:
            v = _fmt(res.params.get(p.name), 8)
            se = _num(res.stderr.get(p.name)) if p.vary else None
            se_txt = "(fixed)" if not p.vary else ("" if se is None else f"± {se:.3g}")
            if p.name in res.at_bound:
                se_txt = f"(at {res.at_bound[p.name]} bound)"
            if p.name in res.undetermined:
                v, se_txt = "not determined", ""
            ci = ""
            if boot is not None and p.vary and not reason:
                lo, hi = _num(boot.ci_low.get(p.name)), _num(boot.ci_high.get(p.name))
                ci = "" if lo is None or hi is None else f"  [{lo:.6g}, {hi:.6g}]"
            lines.append(f"  {p.name:<22s} {v:>14s} {se_txt:<12s} {p.unit}{ci}")
        for c in res.determined_combinations:
            se = _num(c["stderr"])
            se_txt = "" if se is None else f"± {se:.3g}"
            lines.append(f"  {c['name']:<22s} {_fmt(c['value'], 8):>14s} {se_txt:<12s} "
                         f"{c['unit']}  = {c['formula']} (determined)")
        lines.append(f"  {res.chi2_text()}")
        if boot is not None:
            lev = 100 * float(getattr(boot, "level", 0.95))
            if reason:
                lines.append(f"  bootstrap {lev:g}% intervals undefined: {reason}")
            else:
                lines.append(f"  (in brackets: bootstrap {lev:g}% interval, {boot.n} resamples, "
                             f"{getattr(boot, 'n_failed', 0)} failed)")
        loss = _loss_text(res)
        if loss:
            lines.append(f"  {loss}")
        lines += [f"  note: {t}" for t in res.notes]
    if run.cv is not None:
        lines.append("")
        lines.append(f"cross-validation ({run.cv_k}): " + ", ".join(
            f"{m} {_fmt(1000 * c.rmse, 4)} meV" for m, c in run.cv.items()))
    warns = run.all_warnings()
    if warns:
        lines += ["", "warnings:"] + [f"  - {w}" for w in warns]
    if out is not None:
        lines += ["", f"results written to {out}{os.sep}"]
    return "\n".join(lines)

