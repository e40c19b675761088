r"""Reading and featurising in parallel: processes on one machine (``--jobs N``) or the
workers of a ``dask.distributed`` cluster (``--scheduler ADDRESS``).

The client plans the read of every input path once (:func:`ljfit.io._plan_read`: options
checked, layout resolved, a substrate/surface folder listed, an energies CSV parsed) and
cuts the structures into contiguous parts (blocks of the p_N pairs of a substrate/surface
folder, of the files of a folder or pattern, or of the frames of one file). Each task reads
its part and featurises it (:func:`ljfit.features.compute_features`), and returns its
feature rows -- per-slot sums of energies, and of forces and stress where they are fitted --
with what the fit needs of its structures: names, reference energies, forces and stress,
weights, symbols and groups; not their positions (only the first structure of a part keeps
them, for the LAMMPS export). The fit itself runs on the client, on the parts' features
joined in order (:func:`ljfit.features.concatenate`), so the result is the serial one to
rounding (the pair sums are the same sums, blocked differently).

Local workers are forked from the client once it has planned the read and imported what
the parts need (pandas for the substrate/surface reader: inherited, not imported by each).
:func:`submit` returns while they work, so that the client can do its own work meanwhile
(the command line imports the fit and the report, ~0.4 s); :meth:`Parts.result` joins.

It pays when reading and featurising dominate: many files (each costs an ``open``), or
large periodic cells. What the client does alone -- start-up and imports, listing the
folder, joining the parts (~0.1 s for 32 000 structures), the fit and the results folder
-- bounds the speed-up (Amdahl). Starting processes costs ~0.05 s locally (and a cluster's
latency per task), so small data sets are faster serially; ``scripts/bench_model.py``
measures the crossover on this machine.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import replace

from .dataset import Dataset
from .errors import DataError, FitError

__all__ = ["Parts", "featurise", "featurise_part", "parts_of", "submit"]

#: Parts per worker: a worker slowed by other jobs (or by the client's own work) then hands
#: its later parts to the others; more parts cost more fixed work per part (~10 ms each).
PARTS_PER_WORKER = 2
#: How long to wait for a dask scheduler to answer.
CONNECT_TIMEOUT = "10s"


def parts_of(path, read_options: dict, n_parts: int) -> int:
    """How many parts the structures of ``path`` can be cut into (at most ``n_parts``): no
    more than its p_N pairs, its files, or the frames of its one file."""
    return len(_tasks([str(path)], read_options, n_parts))


def _light(structures) -> list:
    """The structures without their positions (the first keeps them), to send back.

    Dropped in place: a task's structures were read by the task and nothing else holds
    them (a copy of each cost the workers 0.1 s of 32 000 structures)."""
    for s in structures[1:]:
        s.__dict__["positions"] = None  # (a frozen dataclass: as replace_positions does)
    return list(structures)


def replace_positions(s):
    """A copy of ``s`` whose positions are dropped (``None``): a structure featurised
    elsewhere, kept for its names, references, symbols and groups."""
    new = object.__new__(type(s))
    new.__dict__.update(s.__dict__)
    new.__dict__["positions"] = None
    return new


def featurise_part(path, read_options: dict, part, feature_options: dict) -> dict:
    """Read one part of ``path`` and featurise it (a task; runs in a worker).

    Parameters
    ----------
    path : str
    read_options : dict
        :func:`ljfit.io.read_dataset` options (used when ``part`` is a ``(k, n)`` pair).
    part : tuple or ljfit.io._ReadPlan
        ``(k, n)``: the k-th of n blocks, read as :func:`ljfit.io.read_dataset` does; or the
        client's plan of the part (:func:`_tasks`), read without deciding anything again.
    feature_options : dict
        As for :func:`featurise`.

    Returns
    -------
    dict
        ``features`` (PairFeatures), ``structures`` (without positions but the first),
        ``meta`` (layout, energy unit, group mode, name), ``decisions`` (what the part saw of
        the data-wide naming and group rules) and ``warnings`` (their texts).
    """
    from threadpoolctl import threadpool_limits

    from .features import compute_features
    from .io import _read_planned, _ReadPlan

    opts = dict(feature_options)
    policy_f = opts.pop("forces_policy", None)
    policy_s = opts.pop("stress_policy", None)
    with warnings.catch_warnings(record=True) as caught, _single_blas(threadpool_limits):
        warnings.simplefilter("always")
        decisions: dict = {}
        if isinstance(part, _ReadPlan):
            ds = _read_planned(part, decisions)
        else:
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


#: Set in the processes of a local pool: BLAS is single-threaded there already.
_BLAS_LIMITED = False


def _single_blas(threadpool_limits):
    """One BLAS thread in a task: the workers share the cores among themselves. A local
    pool's workers are forked from the command line, which limited BLAS already (asking
    threadpoolctl again costs a scan of the loaded libraries per task); a dask worker is
    limited task by task."""
    import contextlib

    if _BLAS_LIMITED:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


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


def _tasks(paths, read_options, n_parts) -> list:
    """[(path, plan of one part)] of every path: each path planned once, here (a folder of
    64 000 files is listed once, not once per part; its gaps are warned once)."""
    from .io import _plan_read, _split

    tasks = []
    for p in paths:
        plan = _plan_read(p, **read_options)
        tasks += [(p, part) for part in _split(plan, n_parts)]
    return tasks


class _Runner:
    """Runs tasks on local processes (forked once, reused for a second round) or on a dask
    cluster (one connection); :meth:`close` ends either."""

    def __init__(self, jobs: int, scheduler: str | None):
        self.jobs, self.scheduler = jobs, scheduler
        self.client = self.pool = None
        if scheduler:
            try:
                from dask.distributed import Client
            except ImportError:
                raise FitError("--scheduler needs dask.distributed: pip install "
                               "'ljfit[dask]'") from None
            try:
                self.client = Client(scheduler, timeout=CONNECT_TIMEOUT,
                                     set_as_default=False)
            except OSError as exc:
                raise FitError(f"--scheduler {scheduler}: cannot reach the dask scheduler "
                               f"({exc})") from None

    def workers(self) -> int:
        """Processes the tasks are spread over."""
        if self.client is not None:
            return len(self.client.scheduler_info().get("workers", {})) or 1
        return max(1, self.jobs)

    def start(self, tasks, feature_options) -> list:
        """Start every task; returns what :meth:`collect` takes (the results themselves
        when they run here, in this process)."""
        if self.client is not None:
            return [self.client.submit(featurise_part, p, None, part, feature_options,
                                       pure=False) for p, part in tasks]
        if self.jobs <= 1 or len(tasks) == 1:
            return [featurise_part(p, None, part, feature_options) for p, part in tasks]
        if self.pool is not None:
            return [self.pool.submit(featurise_part, p, None, part, feature_options)
                    for p, part in tasks]
        import gc

        self.pool = _local_pool(min(self.jobs, len(tasks)), tasks)
        # the workers are forked at the first submit: with this process's objects frozen
        # their garbage collector leaves them alone (a collection would write to, and so
        # copy, every page of the parent's objects); this process collects them again
        gc.freeze()
        try:
            return [self.pool.submit(featurise_part, p, None, part, feature_options)
                    for p, part in tasks]
        finally:
            gc.unfreeze()

    def collect(self, started) -> list:
        """The results of :meth:`start`'s tasks, in order; the first task's error in that
        order is raised (locally with the task's index as ``task``)."""
        if self.client is not None:
            return self.client.gather(started)
        out = []
        for k, f in enumerate(started):
            try:
                out.append(f.result() if hasattr(f, "result") else f)
            except DataError as exc:
                exc.task = k
                raise
        return out

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.pool is not None:
            # after an error or an interrupt: drop the parts not started yet
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None


def _local_pool(workers: int, tasks):
    """A pool of forked worker processes (where fork exists): they start with what this
    process imported, so import here, once, what the parts will import (spawned workers
    would each import everything again)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
    limited = False
    if method == "fork":
        _import_for_parts(tasks)
        limited = _blas_single_threaded()
    return ProcessPoolExecutor(max_workers=workers,
                               mp_context=multiprocessing.get_context(method),
                               initializer=_worker_init, initargs=(limited,))


def _worker_init(limited: bool) -> None:
    global _BLAS_LIMITED
    _BLAS_LIMITED = limited


def _blas_single_threaded() -> bool:
    """Whether every BLAS this process loaded runs one thread (the command line sets it):
    forked workers inherit that and need not set it per task."""
    from threadpoolctl import threadpool_info

    return all(lib.get("num_threads") == 1 for lib in threadpool_info()
               if lib.get("user_api") == "blas")


def _import_for_parts(tasks) -> None:
    """Import in the parent what reading and featurising the parts import, so that the
    forked workers inherit it (pandas alone cost each worker 0.15-0.19 s)."""
    from . import features  # noqa: F401
    from .features import accumulate, batched  # noqa: F401

    layouts = {part.layout for _, part in tasks if hasattr(part, "layout")}
    if "seed" in layouts and _seed_parts_need_pandas(
            [part for _, part in tasks if part.layout == "seed"]):
        import pandas  # noqa: F401  (the bulk reader's table parser)
    if "ase" in layouts:
        from .io import asefiles, frames  # noqa: F401


def _seed_parts_need_pandas(parts) -> bool:
    """Whether the largest part of a substrate/surface folder has more atom lines than the
    bulk reader splits in Python (``seed_bulk.SMALL_TABLE_LINES``; above it pandas parses them):
    its structures times the atoms of its first structure (one file read)."""
    from .io import seed, seed_bulk

    part = max(parts, key=lambda p: len(p.listing[0]))
    numbers, _, exts = seed._names(part.listing)
    if not len(numbers):
        return False
    try:  # (non-blocking: the listing found a regular file, but never hang on a FIFO)
        fd = os.open(os.path.join(part.folder, exts[numbers[0]]), os.O_RDONLY | os.O_NONBLOCK)
        try:
            atoms = os.read(fd, 1 << 20).count(b"\n") + 1
        finally:
            os.close(fd)
    except OSError:
        return True  # (the part will say what is wrong; pandas as if it were large)
    return len(numbers) * atoms > seed_bulk.SMALL_TABLE_LINES


class Parts:
    """Parts of the input being read and featurised (:func:`submit`); :meth:`result` joins
    them. A context manager: leaving it stops the workers (and drops the parts not
    started, after an error or an interrupt)."""

    def __init__(self, paths, read_options, feature_options, jobs, scheduler):
        self.paths = [str(p) for p in (paths if isinstance(paths, (list, tuple))
                                       else [paths])]
        self.read_options, self.feature_options = read_options, feature_options
        self.runner = _Runner(jobs, scheduler)
        try:
            n_parts = PARTS_PER_WORKER * self.runner.workers()
            self.tasks = _tasks(self.paths, read_options, n_parts)
            self.started = self.runner.start(self.tasks, feature_options)
        except BaseException:
            self.runner.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        self.runner.close()

    def result(self) -> tuple:
        """(Dataset, PairFeatures, list of str), as :func:`featurise` returns."""
        import gc

        # no garbage collection while the parts' structures arrive and are joined: each
        # collection would walk every object of this process (scipy's, pandas'...) for
        # none to free; 40 % of unpickling and joining 32 000 structures
        paused = gc.isenabled()
        gc.disable()
        try:
            try:
                results = self.runner.collect(self.started)
                results = self._regroup(results)
            except DataError as exc:
                self.close()
                self._raise_serial_error(getattr(exc, "task", None))
                raise
            finally:
                self.close()
            return _join(self.paths, self.read_options, results, self.tasks)
        finally:
            if paused:
                gc.enable()

    def _raise_serial_error(self, k) -> None:
        """Raise the error the serial reader gives for the path of the failed task ``k``,
        when it may differ from the part's: a part of ASE files counts only its own frames
        ("1 of 2 structures have no energy"). A substrate/surface part's error is the
        serial one already (each file is checked on its own, the first bad one raises).
        Only locally: the files a cluster's workers read may not be here."""
        if k is None or getattr(self.tasks[k][1], "layout", None) != "ase":
            return
        from .io import read_dataset

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the command fails: its warnings are moot
            read_dataset(self.tasks[k][0], **self.read_options)

    def _regroup(self, results) -> list:
        """The data-wide rule of group "auto": tags as soon as any structure of a path has
        one; parts that saw none are read again with groups from tags."""
        if str(self.read_options.get("groups", "auto")).lower() != "auto":
            return results
        redo = []
        for p in self.paths:
            mine = [k for k, (q, _) in enumerate(self.tasks) if q == p]
            tags = [results[k]["decisions"].get("any_tags") for k in mine]
            if any(tags) and not all(tags):
                redo += [k for k, t in zip(mine, tags) if not t]
        if redo:
            again = self.runner.collect(self.runner.start(
                [(self.tasks[k][0], replace(self.tasks[k][1], groups="tags"))
                 for k in redo], self.feature_options))
            for k, r in zip(redo, again):
                results[k] = r
        return results


def submit(paths, read_options: dict, feature_options: dict, *, jobs: int = 1,
           scheduler: str | None = None) -> Parts:
    """Start reading and featurising ``paths`` in parts (see :func:`featurise`); the
    caller may do other work (imports) before it asks for :meth:`Parts.result`.

    The input is planned (options checked, folders listed) before this returns, so bad
    options and unreadable folders raise here.

    Returns
    -------
    Parts
        Use it as a context manager: ``with submit(...) as parts: ...; parts.result()``.
    """
    return Parts(paths, read_options, feature_options, jobs, scheduler)


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
    with submit(paths, read_options, feature_options, jobs=jobs,
                scheduler=scheduler) as parts:
        return parts.result()


def _join(paths, read_options, results, tasks) -> tuple:
    """The parts' results joined: (Dataset, PairFeatures, warnings)."""
    from .io import check_weights

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
    if read_options.get("require_energies", True):
        # the parts leave this to the whole: one part may hold only weights of 0
        for structs, _, meta in per_path:
            check_weights(structs, meta["path"])
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
