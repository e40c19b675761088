r"""Reading and featurising in parallel: processes on one machine (``--jobs N``) or the
workers of a ``dask.distributed`` cluster (``--scheduler ADDRESS``).

The structures of each input path are cut into contiguous parts (the p_N of a
substrate/surface folder, the files of a folder or pattern, or the frames of one file).
Each task reads one part and featurises it (:func:`ljfit.features.compute_features`), and
returns its feature rows — per-slot sums of energies, and of forces and stress where they
are fitted — with what the fit needs of its structures: names, reference energies, forces
and stress, weights, symbols and groups; not their positions (only the first structure of a
part keeps them, for the LAMMPS export). The fit itself runs on the client, on the parts'
features joined in order (:func:`ljfit.features.concatenate`), so the result is the serial
one to rounding (the pair sums are the same sums, blocked differently).

It pays when reading and featurising dominate: many files (each costs an ``open``), or
large periodic cells. Starting processes costs ~0.2 s locally (and a cluster's latency per
task), so small data sets are faster serially; ``scripts/bench_model.py`` measures the
crossover on this machine.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import replace

from .dataset import Dataset
from .errors import DataError, FitError

__all__ = ["featurise", "featurise_part", "parts_of"]

#: Parts per worker: enough to balance uneven parts, few enough to keep the overhead low.
PARTS_PER_WORKER = 2
#: How long to wait for a dask scheduler to answer.
CONNECT_TIMEOUT = "10s"


def parts_of(path, read_options: dict, n_parts: int) -> int:
    """How many parts the structures of ``path`` can be cut into (at most ``n_parts``): no
    more than its p_N files, its files, or the frames of its one file."""
    from .io import paths as io_paths
    from .io.seed import _SEED_EXT

    display = str(path)
    folder, files = io_paths._resolve_path(display)
    if folder is not None:
        layout = read_options.get("layout", "auto")
        if layout != "ase" and io_paths._has_seed_files(folder):
            with os.scandir(folder) as it:
                n = sum(1 for e in it if _SEED_EXT.match(e.name))
            return max(1, min(n_parts, n))
        files = io_paths._folder_structure_files(folder, display)
    if len(files) >= n_parts:
        return n_parts
    if len(files) == 1 and files[0].suffix.lower() in (".xyz", ".extxyz"):
        from .io.asefiles import scan_xyz

        n = len(scan_xyz(files[0].read_bytes(), display))
        return max(1, min(n_parts, n))
    return max(1, len(files))


def _light(structures) -> list:
    """The structures without their positions (the first keeps them)."""
    return [s if k == 0 else replace_positions(s) for k, s in enumerate(structures)]


def replace_positions(s):
    """A copy of ``s`` whose positions are dropped (``None``): a structure featurised
    elsewhere, kept for its names, references, symbols and groups."""
    new = object.__new__(type(s))
    new.__dict__.update(s.__dict__)
    new.__dict__["positions"] = None
    return new


def featurise_part(path, read_options: dict, part: tuple, feature_options: dict) -> dict:
    """Read one part of ``path`` and featurise it (a task; runs in a worker).

    Returns
    -------
    dict
        ``features`` (PairFeatures), ``structures`` (without positions but the first),
        ``meta`` (layout, energy unit, group mode, name), ``decisions`` (what the part saw of
        the data-wide naming and group rules) and ``warnings`` (their texts).
    """
    from threadpoolctl import threadpool_limits

    from .features import compute_features

    opts = dict(feature_options)
    policy_f = opts.pop("forces_policy", None)
    policy_s = opts.pop("stress_policy", None)
    with warnings.catch_warnings(record=True) as caught, \
            threadpool_limits(limits=1, user_api="blas"):
        warnings.simplefilter("always")
        decisions: dict = {}
        ds = read_dataset_part(path, read_options, part, decisions)
        forces = _fit_mask(ds, ds.has_forces, policy_f, opts.get("force_key_explicit"))
        stress = _fit_mask(ds, ds.has_stress, policy_s, opts.get("stress_key_explicit"))
        opts.pop("force_key_explicit", None)
        opts.pop("stress_key_explicit", None)
        features = compute_features(ds, forces=forces, stress=stress, **opts)
    return {
        "features": features,
        "structures": _light(ds.structures),
        "meta": {"layout": ds.layout, "energy_unit": ds.energy_unit,
                 "group_mode": ds.group_mode, "name": ds.name, "path": ds.path},
        "decisions": decisions,
        "warnings": [str(w.message) for w in caught],
    }


def read_dataset_part(path, read_options, part, decisions):
    from .io import read_dataset

    return read_dataset(path, part=part, decisions=decisions, **read_options)


def _fit_mask(ds, have, policy, explicit_key):
    """Which structures' forces (stress) to featurise: those that have them, unless the
    plan will not fit them (``--no-forces``, or interaction energies without an explicit
    key; :func:`ljfit.observe.plan` then says why)."""
    if policy is False or (ds.interaction and not explicit_key):
        return False
    return have


def _tasks(paths, read_options, n_parts):
    tasks = []
    for p in paths:
        n = parts_of(p, read_options, n_parts)
        tasks += [(p, (k, n)) for k in range(n)]
    return tasks


def _run(tasks, read_options, feature_options, jobs, scheduler):
    """Results of every task, in order, on local processes or a dask cluster."""
    if scheduler:
        try:
            from dask.distributed import Client
        except ImportError:
            raise FitError("--scheduler needs dask.distributed: pip install "
                           "'ljfit[dask]'") from None
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except OSError as exc:
            raise FitError(f"--scheduler {scheduler}: cannot reach the dask scheduler "
                           f"({exc})") from None
        try:
            futures = [client.submit(featurise_part, p, read_options, part, feature_options,
                                     pure=False) for p, part in tasks]
            return client.gather(futures)
        finally:
            client.close()
    if jobs <= 1 or len(tasks) == 1:
        return [featurise_part(p, read_options, part, feature_options) for p, part in tasks]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # fork: the workers start with ljfit already imported (spawn would re-import it)
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
    ctx = multiprocessing.get_context(method)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        futures = [pool.submit(featurise_part, p, read_options, part, feature_options)
                   for p, part in tasks]
        return [f.result() for f in futures]


def featurise(paths, read_options: dict, feature_options: dict, *, jobs: int = 1,
              scheduler: str | None = None) -> tuple:
    """Read and featurise ``paths`` in parts, in parallel; join the parts.

    Parameters
    ----------
    paths : str or list of str
    read_options : dict
        :func:`ljfit.io.read_dataset` options.
    feature_options : dict
        :func:`ljfit.features.compute_features` options (``kind``, ``potential``,
        ``cutoff``, ``shift``) plus ``forces_policy``/``stress_policy`` (None, True, False)
        and ``force_key_explicit``/``stress_key_explicit``.
    jobs : int
        Local worker processes (ignored with ``scheduler``).
    scheduler : str, optional
        Address of a ``dask.distributed`` scheduler (``tcp://host:8786``).

    Returns
    -------
    (Dataset, PairFeatures, list of str)
        The structures (positions dropped but the first), their joined features, and the
        warnings the parts raised (each once).
    """
    paths = [str(p) for p in (paths if isinstance(paths, (list, tuple)) else [paths])]
    workers = jobs
    if scheduler:
        workers = max(1, _n_workers(scheduler))
    n_parts = max(1, PARTS_PER_WORKER * workers)
    tasks = _tasks(paths, read_options, n_parts)
    results = _run(tasks, read_options, feature_options, jobs, scheduler)
    # the data-wide rule of group "auto": tags as soon as any structure of a path has one
    if str(read_options.get("groups", "auto")).lower() == "auto":
        redo = []
        for p in paths:
            mine = [k for k, (q, _) in enumerate(tasks) if q == p]
            tags = [results[k]["decisions"].get("any_tags") for k in mine]
            if any(tags) and not all(tags):
                redo += [k for k, t in zip(mine, tags) if not t]
        if redo:
            opts = dict(read_options, groups="tags")
            again = _run([tasks[k] for k in redo], opts, feature_options, jobs, scheduler)
            for k, r in zip(redo, again):
                results[k] = r
    per_path = []
    for p in paths:
        mine = [results[k] for k, (q, _) in enumerate(tasks) if q == p]
        per_path.append(_join_path(mine))
    structures, features = _join_paths(paths, per_path)
    metas = [r["meta"] for r in results]
    layouts = {m["layout"] for m in metas}
    modes = {m["group_mode"] for m in metas}
    if len(paths) == 1:
        name, shown = per_path[0][2]["name"], per_path[0][2]["path"]
    else:
        from .io import _several_name

        name = _several_name([pp[2]["name"] for pp in per_path])
        shown = " ".join(paths[:3]) + (f" (+{len(paths) - 3} more)" if len(paths) > 3 else "")
    dataset = Dataset(structures, path=shown,
                      layout=layouts.pop() if len(layouts) == 1 else "mixed",
                      energy_unit=metas[0]["energy_unit"],
                      group_mode=modes.pop() if len(modes) == 1 else "mixed", name=name)
    messages = list(dict.fromkeys(w for r in results for w in r["warnings"]))
    return dataset, replace(features, names=tuple(dataset.names)), messages


def _join_path(parts) -> tuple:
    """(structures, features, meta) of one path's parts, named by the data-wide rule."""
    from .features import concatenate

    structures = [s for r in parts for s in r["structures"]]
    features = concatenate([r["features"] for r in parts])
    decided = [r["decisions"] for r in parts]
    if decided and all("info_names" in d for d in decided):
        info = [n for d in decided for n in d["info_names"]]
        default = [n for d in decided for n in d["default_names"]]
        use_info = all(n is not None for n in info) and len(set(info)) == len(info)
        names = info if use_info else default
        structures = [s if s.name == nm else _renamed(s, nm) for s, nm in zip(structures, names)]
    return structures, features, parts[0]["meta"]


def _renamed(s, name):
    new = object.__new__(type(s))
    new.__dict__.update(s.__dict__)
    new.__dict__["name"] = name
    return new


def _join_paths(paths, per_path) -> tuple:
    """All paths' structures and features in order; names that clash across paths are
    prefixed with their path (as :func:`ljfit.io.read_dataset` does)."""
    from .features import concatenate
    from .io import _path_labels

    if len(per_path) == 1:
        return per_path[0][0], per_path[0][1]
    kinds = {bool(pp[0][0].groups is not None) for pp in per_path}
    if len(kinds) > 1:
        raise DataError("some paths hold interaction energies (two groups) and some total "
                        "energies; read them separately or set --groups")
    seen: dict = {}
    for structures, _, _ in per_path:
        for s in structures:
            seen[s.name] = seen.get(s.name, 0) + 1
    out = []
    for (structures, _, _), label in zip(per_path, _path_labels(paths)):
        out += [s if seen[s.name] == 1 else _renamed(s, f"{label}/{s.name}")
                for s in structures]
    return out, concatenate([pp[1] for pp in per_path])


def _n_workers(scheduler: str) -> int:
    try:
        from dask.distributed import Client
    except ImportError:
        raise FitError("--scheduler needs dask.distributed: pip install 'ljfit[dask]'") from None
    try:
        with Client(scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False) as client:
            return len(client.scheduler_info().get("workers", {})) or 1
    except OSError as exc:
        raise FitError(f"--scheduler {scheduler}: cannot reach the dask scheduler "
                       f"({exc})") from None
