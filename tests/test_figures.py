"""The figures of a results folder (ljfit.report.figures): the same bytes from one or two
processes, the parent's fallback when the forked child fails, no child left behind."""

from __future__ import annotations

import os
import sys
import time

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from ljfit import LJModel  # noqa: E402
from ljfit.fitting import fit  # noqa: E402
from ljfit.report import FitRun, figures  # noqa: E402
from ljfit.uncertainty import profiles  # noqa: E402

FORK = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork: Linux only")
NAMES = ["parity.png", "residuals.png", "potentials.png", "correlation.png", "profiles.png"]


@pytest.fixture(scope="module")
def run(request):
    ds = request.getfixturevalue("adsorbate_dataset")
    model = LJModel(ds)
    results = {m: fit(model, ds, m) for m in ("linear", "least_squares")}
    r = FitRun(ds, model, results)
    r.profiles = profiles(model, ds, results[r.best], n_points=7)
    return r


def _no_children_left():
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


def _draw(run, folder, workers):
    folder.mkdir()
    written = figures.write_figures(run, folder, workers=workers)
    return written, {n: (folder / n).read_bytes() for n in written}


@FORK
def test_two_processes_write_the_same_bytes_as_one(run, tmp_path):
    one, bytes1 = _draw(run, tmp_path / "one", 1)
    two, bytes2 = _draw(run, tmp_path / "two", 2)
    assert one == two == NAMES
    assert bytes1 == bytes2
    _no_children_left()


def _patch_jobs(monkeypatch, *, child=None, parent=None):
    """Wrap the figure jobs: ``child(draw, path)`` replaces the child's share when drawn in
    a forked child (the parent still draws it normally); ``parent[name](path)`` replaces a
    job of the parent's share."""
    me = os.getpid()
    real = figures.figure_jobs

    def jobs(r):
        out = []
        for name, draw in real(r):
            if child is not None and name in figures._CHILD_SHARE:
                def draw(path, _draw=draw):  # noqa: PLW0621
                    if os.getpid() != me:
                        child(_draw, path)
                    else:
                        _draw(path)
            elif parent and name in parent:
                draw = parent[name]  # noqa: PLW2901
            out.append((name, draw))
        return out

    monkeypatch.setattr(figures, "figure_jobs", jobs)


@FORK
def test_a_failing_child_is_redrawn_by_the_parent(run, tmp_path, monkeypatch):
    def fail(draw, path):
        raise RuntimeError("child failure")

    _patch_jobs(monkeypatch, child=fail)
    written, got = _draw(run, tmp_path / "two", 2)
    _, want = _draw(run, tmp_path / "one", 1)
    assert written == NAMES and got == want
    _no_children_left()


@FORK
def test_an_error_in_the_parent_stops_the_child(run, tmp_path, monkeypatch):
    def slow(draw, path):  # the child would take a minute
        time.sleep(60)
        draw(path)

    def fail(path):
        raise RuntimeError("parent failure")

    _patch_jobs(monkeypatch, child=slow, parent={"residuals.png": fail})
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="parent failure"):
        _draw(run, tmp_path / "two", 2)
    assert time.monotonic() - t0 < 30  # the child was killed, not waited for
    _no_children_left()
    assert not (tmp_path / "two" / "profiles.png").exists()
