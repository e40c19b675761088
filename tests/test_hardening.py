"""Hardening (issue #11): data loss, concurrent runs, interrupts, full disks, hostile files.

Every test here failed on the code before the fix (a deleted input folder, a traceback, a
hang, an internal error, a half-replaced results folder, ...). Tests that need a real
process -- signals, locks, file size limits -- run the console script in a subprocess; the
test hook ``LJFIT_TEST_PAUSE=<point>:<marker>[:<seconds>]`` (see :mod:`ljfit._signals`)
makes it stop at a named point and say so by creating the marker file, so a signal can be
sent exactly there.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import ljfit
from ljfit import DataError
from ljfit.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "data" / "example"
TAGS = ROOT / "data" / "example_tags"
FAST = ["--method", "linear", "--no-plots", "--quiet"]
#: files every results folder holds (others -- LAMMPS files, force tables -- vary by version
#: and data; report.md and metrics.json are written last)
CORE_FILES = {"parameters.csv", "params.json", "predictions.csv", "metrics.json", "report.md"}
#: run the command line with the two-rename fallback instead of renameat2(RENAME_EXCHANGE)
FALLBACK = ("import sys, ljfit.report.folder as f; f.USE_EXCHANGE = False; "
            "from ljfit.cli import main; sys.exit(main(sys.argv[1:]))")
CLI = "import sys; from ljfit.cli import main; sys.exit(main(sys.argv[1:]))"

LINUX = sys.platform.startswith("linux")


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------


def _one_error_line(err: str, *needles, prefix="ljfit: error: ") -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(prefix), err
    assert "Traceback" not in err
    assert len(lines[0]) < 600, f"{len(lines[0])} characters"
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def _hidden(folder: Path) -> list:
    """ljfit's hidden files beside results folders (staging, old copies, lock files)."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".ljfit"))


def _snapshot(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _complete_new_run(res: Path) -> None:
    """``res`` is the complete folder of a new run, nothing of the earlier one left."""
    names = {p.name for p in res.iterdir()}
    assert CORE_FILES <= names, names
    assert "notes.txt" not in names  # the earlier folder's
    assert json.loads((res / "params.json").read_text()).get("earlier") is None
    assert "ljfit_version" in json.loads((res / "metrics.json").read_text())


def _earlier_results(parent: Path, name="res") -> tuple:
    """A results folder 'of an earlier run' whose content must survive."""
    out = parent / name
    out.mkdir(parents=True)
    (out / "params.json").write_text('{"earlier": true}\n')
    (out / "notes.txt").write_text("the earlier run\n")
    return out, _snapshot(out)


def _seed_copy(folder: Path, n=3) -> Path:
    folder.mkdir(parents=True)
    for i in range(1, n + 1):
        for f in (f"p_{i}.xyz", f"p_{i}_extended.xyz"):
            shutil.copy(EXAMPLE / f, folder / f)
    return folder


def _default_signals():
    # whoever runs pytest (xdist workers, a background job) may ignore SIGINT, and ljfit
    # keeps an inherited SIG_IGN; the real user at a terminal has the default
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _command(*args, code=None):
    """argv of the command line in a fresh interpreter (``code`` replaces the plain entry
    point, e.g. :data:`FALLBACK`)."""
    return [sys.executable, "-c", code or CLI, *map(str, args)]


def _env(pause=None):
    env = {k: v for k, v in os.environ.items() if k != "LJFIT_TEST_PAUSE"}
    if pause:
        env["LJFIT_TEST_PAUSE"] = pause
    return env


def _spawn(argv, pause=None, **kw):
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(pause), preexec_fn=_default_signals, **kw)


def _finish(proc, timeout=120):
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"ljfit did not finish in {timeout} s: {err[-2000:]}")
    return proc.returncode, out, err


def _wait_for(marker: Path, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if proc.poll() is not None:
            pytest.fail(f"ljfit ended (exit {proc.returncode}) before the pause point: "
                        f"{proc.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the pause point was never reached")
        time.sleep(0.005)


def _wait_for_handlers(proc, timeout=60):
    """Until the process catches SIGTERM (bit 15 of SigCgt in /proc/PID/status): ljfit's
    handlers are installed, the heavy imports have not even started."""
    status = Path(f"/proc/{proc.pid}/status")
    bit = 1 << (signal.SIGTERM - 1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"ljfit ended before installing its handlers: {proc.stderr.read()}")
        try:
            m = re.search(r"^SigCgt:\s*([0-9a-fA-F]+)", status.read_text(), re.M)
        except OSError:
            m = None
        if m and int(m.group(1), 16) & bit:
            return
        time.sleep(0.0005)
    proc.kill()
    pytest.fail("ljfit never installed a SIGTERM handler")


needs_proc = pytest.mark.skipif(not LINUX, reason="reads /proc/PID/status (Linux)")


# ---------------------------------------------------------------------------------------
# data loss
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("given_in, given_out", [("~/data", "{abs}"), ("{abs}", "~/data"),
                                                 ("~/data", "~/data")],
                         ids=["tilde-input", "tilde-out", "both"])
def test_force_with_tilde_never_deletes_the_input(tmp_path, monkeypatch, capsys,
                                                  given_in, given_out):
    home = tmp_path / "home"
    data = home / "data"
    shutil.copytree(EXAMPLE, data)
    before = _snapshot(data)
    monkeypatch.setenv("HOME", str(home))
    argv = ["fit", given_in.format(abs=data), "--out", given_out.format(abs=data), "--force"]
    assert main([*argv, *FAST]) == 2
    _one_error_line(capsys.readouterr().err, "refusing to replace", "holds the input")
    assert _snapshot(data) == before
    assert sorted(p.name for p in home.iterdir()) == ["data"]


def test_force_never_replaces_a_folder_inside_the_input(tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(EXAMPLE, data)
    (data / "sub").mkdir()
    (data / "sub" / "mine.txt").write_text("keep")
    assert main(["fit", str(data), "--out", str(data / "sub"), "--force", *FAST]) == 2
    _one_error_line(capsys.readouterr().err, "lies inside the input")
    assert (data / "sub" / "mine.txt").read_text() == "keep"


def test_force_never_deletes_data_behind_symlinked_input_files(tmp_path, capsys):
    # the input folder holds links to files inside the folder to be replaced
    res = tmp_path / "res"
    res.mkdir()
    for f in EXAMPLE.glob("p_*"):
        shutil.copy(f, res / f.name)
    inp = tmp_path / "in"
    inp.mkdir()
    for f in res.iterdir():
        (inp / f.name).symlink_to(Path("..") / "res" / f.name)
    before = _snapshot(res)
    assert main(["fit", str(inp), "--out", str(res), "--force", *FAST]) == 2
    _one_error_line(capsys.readouterr().err, "refusing to replace", "which links to")
    assert _snapshot(res) == before
    # a single input file that is a link into the folder, and a glob matching such links
    res2 = tmp_path / "res2"
    res2.mkdir()
    shutil.copy(TAGS / "dimers.extxyz", res2)
    before2 = _snapshot(res2)
    (tmp_path / "one.extxyz").symlink_to(res2 / "dimers.extxyz")
    for given in ("one.extxyz", "one.*"):
        assert main(["fit", str(tmp_path / given), "--out", str(res2), "--force", *FAST]) == 2
        _one_error_line(capsys.readouterr().err, "refusing to replace", "which links to")
        assert _snapshot(res2) == before2


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A params.json of the tagged dimers (ASE layout) and its data."""
    base = tmp_path_factory.mktemp("fitted")
    data = base / "data"
    shutil.copytree(TAGS, data)
    assert main(["fit", str(data), "--out", str(base / "res"), *FAST]) == 0
    return base / "res" / "params.json", data


@pytest.mark.parametrize("which", ["data-file", "params", "folder-file", "energies-csv",
                                   "config", "link-to-data"])
def test_predict_out_is_never_an_input(fitted, tmp_path, capsys, which):
    params, data = fitted
    work = tmp_path / "w"
    shutil.copytree(data, work / "data")
    shutil.copy(params, work / "params.json")
    data, params = work / "data", work / "params.json"
    extxyz = data / "dimers.extxyz"
    argv = ["predict", str(params), str(extxyz)]
    if which == "data-file":
        target = extxyz
    elif which == "params":
        target = params
    elif which == "folder-file":  # a file of the input folder
        argv = ["predict", str(params), str(data)]
        target = data / "truth.json"
    elif which == "energies-csv":
        target = work / "e.csv"
        names = [f"dimers[{k}]" for k in range(len(ljfit.read_dataset(extxyz)))]
        target.write_text("name,energy\n" + "".join(f"{n},0.1\n" for n in names))
        argv += ["--energies-csv", str(target)]
    elif which == "config":
        target = work / "c.toml"
        target.write_text("quiet = true\n")
        argv += ["--config", str(target)]
    else:
        target = work / "link.csv"
        target.symlink_to(extxyz)
    before = {p: p.read_bytes() for p in work.rglob("*") if p.is_file()}
    assert main([*argv, "--out", str(target), "--force"]) == 2
    _one_error_line(capsys.readouterr().err, "refusing to write the predictions over an "
                                             "input file")
    assert {p: p.read_bytes() for p in work.rglob("*") if p.is_file()} == before


def test_predict_out_writes_atomically_and_refuses_a_folder(fitted, tmp_path, capsys):
    params, data = fitted
    out = tmp_path / "e.csv"
    assert main(["predict", str(params), str(data), "--out", str(out)]) == 0
    assert out.read_text().startswith("structure,")
    assert main(["predict", str(params), str(data), "--out", str(tmp_path)]) == 2
    _one_error_line(capsys.readouterr().err, "is a folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.csv"]


# -- the swap, killed between its steps --------------------------------------------------


def _fit_argv(out, data=EXAMPLE, *extra):
    return ["fit", str(data), "--out", str(out), "--force", *FAST, *extra]


def test_sigkill_between_the_two_renames_is_recovered(tmp_path, capsys):
    res, earlier = _earlier_results(tmp_path)
    marker = tmp_path / "m"
    proc = _spawn(_command(*_fit_argv(res), code=FALLBACK),
                  pause=f"after-old-moved:{marker}")
    _wait_for(marker, proc)
    proc.kill()
    _finish(proc)
    # the state the fallback cannot avoid: the earlier folder renamed aside
    assert not res.exists()
    olds = [p for p in tmp_path.iterdir() if p.name.startswith(".ljfit-old-res-")]
    assert len(olds) == 1 and _snapshot(olds[0]) == earlier
    # the next run on the same folder moves it back, and says so
    assert main(["fit", str(EXAMPLE), "--out", str(res), *FAST]) == 2
    _one_error_line(capsys.readouterr().err, str(res), "not empty", "restored the previous "
                    "results", olds[0].name)
    assert _snapshot(res) == earlier
    assert _hidden(tmp_path) == []


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)],
                         ids=["SIGTERM", "SIGINT"])
def test_signal_between_the_two_renames_is_held_until_they_are_done(tmp_path, sig, code):
    res, _ = _earlier_results(tmp_path)
    marker = tmp_path / "m"
    proc = _spawn(_command(*_fit_argv(res), code=FALLBACK),
                  pause=f"after-old-moved:{marker}")
    _wait_for(marker, proc)
    proc.send_signal(sig)
    rc, _, err = _finish(proc)
    assert rc == code
    _one_error_line(err, prefix="ljfit: interrupted")
    # never half: the new folder is complete, the old one gone, nothing hidden left
    _complete_new_run(res)
    assert _hidden(tmp_path) == []


def _exchange_supported(tmp_path) -> bool:
    from ljfit.report import folder

    a, b = tmp_path / "xa", tmp_path / "xb"
    a.mkdir()
    b.mkdir()
    try:
        return folder._exchange(a, b)
    finally:
        a.rmdir()
        b.rmdir()


def test_sigkill_after_the_atomic_exchange(tmp_path):
    if not _exchange_supported(tmp_path):
        pytest.skip("renameat2(RENAME_EXCHANGE) is not available here")
    res, _ = _earlier_results(tmp_path)
    marker = tmp_path / "m"
    proc = _spawn(_command(*_fit_argv(res)), pause=f"after-exchange:{marker}")
    _wait_for(marker, proc)
    proc.kill()
    _finish(proc)
    _complete_new_run(res)
    leftovers = [n for n in _hidden(tmp_path) if n.startswith(".ljfit-new-res-")]
    assert len(leftovers) == 1  # the earlier folder under the staging name
    assert main(_fit_argv(res)) == 0
    assert _hidden(tmp_path) == []
    warnings = json.loads((res / "metrics.json").read_text())["warnings"]
    assert any(leftovers[0] in w and "interrupted run" in w for w in warnings), warnings


@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "two-renames"])
def test_replacement_leaves_nothing_beside_the_folder(tmp_path, monkeypatch, exchange):
    from ljfit.report import folder, staged_folder

    monkeypatch.setattr(folder, "USE_EXCHANGE", exchange)
    res, _ = _earlier_results(tmp_path)
    with staged_folder(res, force=True) as tmp:
        assert tmp.parent == res.parent and tmp.name.startswith(".ljfit-new-res-")
        (tmp / "new.txt").write_text("new")
    assert _snapshot(res) == {"new.txt": b"new"}
    assert _hidden(tmp_path) == []


def test_recovery_touches_only_its_own_leftovers(tmp_path):
    from ljfit.report import claim_output_dir, release_claims

    res = tmp_path / "res"
    stale = tmp_path / ".ljfit-new-res-0123abcd"
    stale.mkdir()
    (stale / "half.csv").write_text("x")
    old = tmp_path / ".ljfit-old-res-89abcdef"
    old.mkdir()
    (old / "params.json").write_text("earlier")
    other = tmp_path / ".ljfit-new-res2-0123abcd"  # another folder's staging
    other.mkdir()
    with pytest.warns(UserWarning) as rec:
        claim_output_dir(res, force=True)
    release_claims()
    text = " ".join(str(w.message) for w in rec)
    assert "restored the previous results" in text and "removed .ljfit-new-res-0123abcd" in text
    assert _snapshot(res) == {"params.json": b"earlier"}
    assert _hidden(tmp_path) == [".ljfit-new-res2-0123abcd"]


# ---------------------------------------------------------------------------------------
# two writers
# ---------------------------------------------------------------------------------------


def _consistent_run(res: Path) -> str:
    """The results folder is one complete run: every file present and all from the same
    dataset. Returns that dataset's name."""
    _complete_new_run(res)
    metrics = json.loads((res / "metrics.json").read_text())
    params = json.loads((res / "params.json").read_text())
    names = (res / "predictions.csv").read_text().splitlines()[1:]
    name = metrics["dataset"]["name"]
    assert params["model"] == metrics["model"]
    expected = {"example": "p_", "example_tags": "dimers["}[name]
    assert names and all(n.startswith(expected) for n in names)
    return name


def test_two_concurrent_writers_never_mix(tmp_path):
    exe = [sys.executable, "-c", CLI]
    res = tmp_path / "res"
    seen = set()
    for _ in range(3):
        procs = [_spawn(exe + _fit_argv(res, data)) for data in (EXAMPLE, TAGS)]
        results = [_finish(p) for p in procs]
        codes = sorted(r[0] for r in results)
        assert codes in ([0, 0], [0, 2]), results
        for rc, _, err in results:
            if rc == 2:
                _one_error_line(err, str(res), "another ljfit run", "is writing this results "
                                "folder")
        seen.add(_consistent_run(res))
        assert _hidden(tmp_path) == []


@pytest.mark.parametrize("point", ["fitting", "writing"])
def test_second_writer_stops_at_once_naming_the_folder(tmp_path, point):
    res, earlier = _earlier_results(tmp_path)
    marker = tmp_path / "m"
    first = _spawn(_command(*_fit_argv(res)), pause=f"{point}:{marker}")
    _wait_for(marker, first)
    t0 = time.monotonic()
    second = _spawn(_command(*_fit_argv(res, TAGS)))
    rc, _, err = _finish(second)
    assert rc == 2
    _one_error_line(err, str(res), f"process {first.pid}", "another ljfit run")
    assert time.monotonic() - t0 < 30  # stops, does not wait for the first
    first.send_signal(signal.SIGTERM)
    rc, _, err = _finish(first)
    assert rc == 143
    assert _snapshot(res) == earlier
    assert _hidden(tmp_path) == []


# ---------------------------------------------------------------------------------------
# Ctrl-C and SIGTERM at any moment; SIGKILL
# ---------------------------------------------------------------------------------------


def _interrupted(err):
    lines = err.strip().splitlines()
    assert lines == ["ljfit: interrupted"], err


@needs_proc
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=["SIGINT", "SIGTERM"])
def test_signal_while_importing(tmp_path, sig, code):
    res, earlier = _earlier_results(tmp_path)
    proc = _spawn(_command(*_fit_argv(res)))
    _wait_for_handlers(proc)  # the very first thing main() does; numpy is not loaded yet
    proc.send_signal(sig)
    rc, _, err = _finish(proc)
    assert rc == code
    _interrupted(err)
    assert _snapshot(res) == earlier and _hidden(tmp_path) == []


@needs_proc
def test_sigint_half_a_second_after_start(tmp_path):
    # the case of the issue: 0.5 s after start (a 62-line traceback before)
    # (the default fit with its figures: a linear fit without them may end within 0.5 s)
    t0 = time.monotonic()
    proc = _spawn([shutil.which("ljfit", path=str(Path(sys.executable).parent)) or "ljfit",
                   "fit", str(EXAMPLE), "--out", str(tmp_path / "res")])
    _wait_for_handlers(proc)
    time.sleep(max(0.0, 0.5 - (time.monotonic() - t0)))
    assert proc.poll() is None  # still running when the signal comes
    proc.send_signal(signal.SIGINT)
    rc, _, err = _finish(proc)
    assert rc == 130, err
    _interrupted(err)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("point", ["reading", "fitting", "writing"])
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=["SIGINT", "SIGTERM"])
def test_signal_at_each_stage_keeps_the_earlier_results(tmp_path, point, sig, code):
    res, earlier = _earlier_results(tmp_path)
    marker = tmp_path / "m"
    proc = _spawn(_command(*_fit_argv(res)), pause=f"{point}:{marker}")
    _wait_for(marker, proc)
    if point == "writing":
        assert any(n.startswith(".ljfit-new-res-") for n in _hidden(tmp_path))
    proc.send_signal(sig)
    rc, _, err = _finish(proc)
    assert rc == code
    _interrupted(err)
    assert _snapshot(res) == earlier
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m", "res"]  # no staging, no lock


_SWALLOW = """
import signal, sys, time
from ljfit import _signals
_signals.install()

class Dropped:
    def __del__(self):  # CPython prints and drops an exception raised in here
        signal.raise_signal(signal.SIGINT)
        for _ in range(10000):
            pass  # the handler runs here, inside __del__

try:
    x = Dropped()
    del x
    time.sleep(5)  # the run goes on: the signal must still stop it
except KeyboardInterrupt:
    print("interrupted", _signals.received())
    sys.exit(0)
print("went on")
"""


def test_signal_inside_a_del_or_import_lock_callback_is_not_lost():
    # a signal handled inside a __del__ (or importlib's module-lock weakref callback) used
    # to be swallowed by CPython: the run finished as if none had come (exit 0, ~1 in 30
    # runs under load)
    proc = subprocess.run([sys.executable, "-c", _SWALLOW], capture_output=True, text=True,
                          timeout=60)
    assert proc.stdout.split() == ["interrupted", str(int(signal.SIGINT))], proc
    assert "Exception ignored" not in proc.stderr, proc.stderr


def test_sigint_during_a_real_fit(tmp_path):
    # not a pause: the signal lands inside scipy's basin-hopping loop
    res, earlier = _earlier_results(tmp_path)
    marker = tmp_path / "m"
    argv = ["fit", str(EXAMPLE), "--out", str(res), "--force", "--method", "basinhopping",
            "--niter", "100000", "--no-plots", "--quiet"]
    proc = _spawn(_command(*argv), pause=f"fitting:{marker}:0")
    _wait_for(marker, proc)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    rc, _, err = _finish(proc)
    assert rc == 130, err
    _interrupted(err)
    assert _snapshot(res) == earlier and _hidden(tmp_path) == []


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return not re.search(r"^State:\s*Z", text, re.M)


PLOTS = ["--method", "linear", "--quiet"]  # with the figures: two processes draw them


@needs_proc
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=["SIGINT", "SIGTERM"])
def test_signal_to_the_parent_while_the_child_draws(tmp_path, sig, code):
    # the forked figure child is paused mid-share; the signal goes to the parent only: it
    # must kill the child before the staging folder goes, and exit as usual
    res, earlier = _earlier_results(tmp_path)
    marker = tmp_path / "m"
    argv = ["fit", str(EXAMPLE), "--out", str(res), "--force", *PLOTS]
    proc = _spawn(_command(*argv), pause=f"figures-child:{marker}")
    _wait_for(marker, proc)
    deadline = time.monotonic() + 30
    while not marker.read_text().strip() and time.monotonic() < deadline:
        time.sleep(0.005)  # created, the PID not written yet
    child = int(marker.read_text())
    assert child != proc.pid and _alive(child)
    proc.send_signal(sig)
    rc, _, err = _finish(proc)
    assert rc == code, err
    _interrupted(err)
    assert not _alive(child)
    assert _snapshot(res) == earlier
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m", "res"]


@needs_proc
def test_ctrl_c_reaches_parent_and_figure_child(tmp_path):
    # Ctrl-C in a terminal signals the whole foreground process group: both processes
    res, earlier = _earlier_results(tmp_path)
    marker = tmp_path / "m"
    argv = ["fit", str(EXAMPLE), "--out", str(res), "--force", *PLOTS]
    proc = _spawn(_command(*argv), pause=f"figures:{marker}", start_new_session=True)
    _wait_for(marker, proc)
    os.killpg(proc.pid, signal.SIGINT)
    rc, _, err = _finish(proc)
    assert rc == 130, err
    _interrupted(err)
    assert _snapshot(res) == earlier
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m", "res"]


def test_figures_drawn_by_two_processes_complete_the_folder(tmp_path):
    out = tmp_path / "res"
    assert main(["fit", str(EXAMPLE), "--out", str(out), *PLOTS]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"parity.png", "residuals.png", "potentials.png", "correlation.png",
            "profiles.png"} <= names
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png.name
    assert _hidden(tmp_path) == []


@pytest.mark.parametrize("point", ["reading", "fitting", "writing"])
def test_sigkill_at_each_stage_then_the_next_run_cleans_up(tmp_path, point):
    res, earlier = _earlier_results(tmp_path)
    marker = tmp_path / "m"
    proc = _spawn(_command(*_fit_argv(res)), pause=f"{point}:{marker}")
    _wait_for(marker, proc)
    proc.kill()
    _finish(proc)
    assert _snapshot(res) == earlier
    left = _hidden(tmp_path)
    if point == "writing":
        assert any(n.startswith(".ljfit-new-res-") for n in left), left
    assert main(_fit_argv(res)) == 0
    _complete_new_run(res)
    assert _hidden(tmp_path) == []


def test_ignored_sigint_stays_ignored(tmp_path):
    # a background job of a script (or nohup) ignores SIGINT: so does ljfit
    marker = tmp_path / "m"
    proc = subprocess.Popen(_command(*_fit_argv(tmp_path / "res")), stderr=subprocess.PIPE,
                            text=True, env=_env(f"fitting:{marker}:1.0"),
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    _wait_for(marker, proc)
    proc.send_signal(signal.SIGINT)
    rc, _, err = _finish(proc)
    assert rc == 0, err


# ---------------------------------------------------------------------------------------
# a full disk, a read-only folder
# ---------------------------------------------------------------------------------------


def test_no_space_left_while_writing(tmp_path, monkeypatch, capsys):
    from ljfit.report import folder

    res, earlier = _earlier_results(tmp_path)
    real_write = folder._write_text
    calls = []

    def write(path, text):
        calls.append(path.name)
        if len(calls) == 3:
            real_write(path, text[: len(text) // 2])  # half a file, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real_write(path, text)

    monkeypatch.setattr(folder, "_write_text", write)
    assert main(_fit_argv(res)) == 2
    _one_error_line(capsys.readouterr().err, str(res), "No space left on device",
                    "the previous results are unchanged")
    assert _snapshot(res) == earlier and _hidden(tmp_path) == []


def test_file_size_limit_while_writing(tmp_path):
    # a real EFBIG from the kernel: RLIMIT_FSIZE in the child (ljfit ignores SIGXFSZ
    # itself, so the default "killed, core dumped" does not happen)
    resource = pytest.importorskip("resource")
    res, earlier = _earlier_results(tmp_path)

    def limit():
        _default_signals()
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))

    proc = subprocess.Popen(_command(*_fit_argv(res)), stderr=subprocess.PIPE, text=True,
                            env=_env(), preexec_fn=limit)
    rc, _, err = _finish(proc)
    assert rc == 2
    _one_error_line(err, str(res), "File too large", "the previous results are unchanged")
    assert _snapshot(res) == earlier and _hidden(tmp_path) == []


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder nobody (root included) can create files in: chmod 555, or for root, the
    immutable attribute (chattr +i; root ignores permission bits)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    res, earlier = _earlier_results(folder)
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield res, earlier
        folder.chmod(0o755)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(folder)],
                                        capture_output=True).returncode != 0:
        pytest.skip("running as root and the immutable attribute is not available")
    try:
        yield res, earlier
    finally:
        subprocess.run([chattr, "-i", str(folder)], check=True)


@pytest.mark.parametrize("force", [True, False])
def test_read_only_parent(read_only_folder, capsys, force):
    res, earlier = read_only_folder
    new = res.parent / "new"
    argv = ["fit", str(EXAMPLE), "--out", str(res if force else new), *FAST]
    assert main(argv + (["--force"] if force else [])) == 2
    line = _one_error_line(capsys.readouterr().err, str(res if force else new))
    assert "cannot create" in line and ("permitted" in line or "denied" in line), line
    assert _snapshot(res) == earlier
    assert sorted(p.name for p in res.parent.iterdir()) == ["res"]


# ---------------------------------------------------------------------------------------
# hostile files
# ---------------------------------------------------------------------------------------


def _run_cli(argv, timeout=60):
    """The command in a subprocess with a deadline (a regression here used to hang)."""
    t0 = time.monotonic()
    proc = subprocess.run(_command(*argv), capture_output=True, text=True, timeout=timeout,
                          env=_env())
    return proc.returncode, proc.stderr, time.monotonic() - t0


@pytest.mark.parametrize("number", ["99999999999", "1" * 200], ids=["11-digits", "200-digits"])
def test_absurd_structure_number_is_refused_at_once(tmp_path, number):
    folder = _seed_copy(tmp_path / "data")
    shutil.copy(EXAMPLE / "p_1.xyz", folder / f"p_{number}.xyz")
    shutil.copy(EXAMPLE / "p_1_extended.xyz", folder / f"p_{number}_extended.xyz")
    rc, err, seconds = _run_cli(["fit", folder, "--out", tmp_path / "o", *FAST])
    assert rc == 2
    _one_error_line(err, f"p_{number[:8]}", "absurdly large")
    assert seconds < 30


def test_large_gap_in_numbering_is_only_a_warning(tmp_path):
    folder = _seed_copy(tmp_path / "data", n=2)
    (folder / "p_2.xyz").rename(folder / "p_999999999.xyz")
    (folder / "p_2_extended.xyz").rename(folder / "p_999999999_extended.xyz")
    t0 = time.monotonic()
    with pytest.warns(UserWarning, match=r"missing p_2, p_3, .*999999997 number"):
        ds = ljfit.read_dataset(folder)
    assert len(ds) == 2 and time.monotonic() - t0 < 10


@pytest.mark.parametrize("digits", [400, 5000])
def test_absurd_atom_count_line(tmp_path, capsys, digits):
    folder = _seed_copy(tmp_path / "data")
    text = (folder / "p_2.xyz").read_text().split("\n", 1)[1]
    (folder / "p_2.xyz").write_text("9" * digits + "\n" + text)
    assert main(["fit", str(folder), "--out", str(tmp_path / "o"), *FAST]) == 2
    _one_error_line(capsys.readouterr().err, "p_2.xyz:1", "atom count mismatch")


@pytest.mark.parametrize("argv, needle", [
    (["--n-substrate", "9" * 400], "--n-substrate"),
    (["--bootstrap", str(10**20)], "--bootstrap"),
    (["--cv", str(10**20)], "--cv"),
    (["--niter", "9" * 5000], "--niter"),
    (["--seed", str(2**64)], "--seed"),
    (["--potential", "mie:1000:6"], "at most 100"),
], ids=["n-substrate-400-digits", "bootstrap-1e20", "cv-1e20", "niter-5000-digits",
        "seed-2^64", "mie-1000"])
def test_absurd_numbers_on_the_command_line(tmp_path, capsys, argv, needle):
    assert main(["fit", str(EXAMPLE), "--out", str(tmp_path / "o"), *argv, *FAST]) == 2
    _one_error_line(capsys.readouterr().err, needle)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("text, needle", [
    ("bootstrap = 100000000000000000000000000\n", "bootstrap"),
    ("n_starts = 99999999999\n", "n_starts"),
    ("a = " + "[" * 3000 + "]" * 3000 + "\n", "nested too deeply"),
    ("a = " + "{b = " * 3000 + "1" + "}" * 3000 + "\n", "nested too deeply"),
    ("method = " + "[" * 200 + "]" * 200 + "\n", "method"),
    ("potential = 'mie:1000:6'\n", "potential"),
    ("bootstrap = 1" + "0" * 5000 + "\n", "not a valid TOML file"),
], ids=["huge-int", "huge-n-starts", "deep-arrays", "deep-inline-tables",
        "nested-value", "mie-1000", "5000-digits"])
def test_hostile_config(tmp_path, capsys, text, needle):
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    assert main(["fit", str(EXAMPLE), "--config", str(cfg), "--out", str(tmp_path / "o"),
                 *FAST]) == 2
    _one_error_line(capsys.readouterr().err, "c.toml", needle)


def test_folder_named_like_a_structure_file(tmp_path, capsys):
    folder = _seed_copy(tmp_path / "data")
    (folder / "p_3.xyz").unlink()
    (folder / "p_3.xyz").mkdir()
    assert main(["fit", str(folder), "--out", str(tmp_path / "o"), *FAST]) == 2
    _one_error_line(capsys.readouterr().err, "p_3.xyz", "a folder, not a regular file")


def test_symlink_loops(tmp_path, capsys):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    assert main(["fit", str(tmp_path / "a"), "--out", str(tmp_path / "o"), *FAST]) == 2
    _one_error_line(capsys.readouterr().err, str(tmp_path / "a"), "symbolic link loop")
    folder = _seed_copy(tmp_path / "data")
    (folder / "p_2.xyz").unlink()
    (folder / "p_2.xyz").symlink_to("p_2.xyz")
    assert main(["fit", str(folder), "--out", str(tmp_path / "o"), *FAST]) == 2
    _one_error_line(capsys.readouterr().err, "p_2.xyz", "symbolic link loop")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    assert main(["info", str(tmp_path / "dangling")]) == 2
    _one_error_line(capsys.readouterr().err, "dangling", "which does not exist")


@pytest.mark.parametrize("where", ["p_2.xyz", "p_2_extended.xyz", "energies.csv"])
def test_megabyte_single_token_line(tmp_path, capsys, where):
    folder = _seed_copy(tmp_path / "data")
    argv = ["fit", str(folder), "--out", str(tmp_path / "o"), *FAST]
    if where == "energies.csv":
        (tmp_path / where).write_text("name,energy\n" + "x" * 1_000_000 + "\n")
        argv += ["--energies-csv", str(tmp_path / where)]
    else:
        (folder / where).write_text("x" * 1_000_000 + "\n")
    assert main(argv) == 2
    line = _one_error_line(capsys.readouterr().err, where)
    assert len(line) < 500


def test_all_weights_zero_names_the_file(tmp_path, capsys):
    from ase.io import read, write

    frames = read(TAGS / "dimers.extxyz", ":")
    for a in frames:
        a.info["weight"] = 0.0
    path = tmp_path / "w0.extxyz"
    write(path, frames)
    for command in (["fit", str(path), "--out", str(tmp_path / "o"), *FAST],
                    ["info", str(path)], ["check-grad", str(path)]):
        assert main(command) == 2
        _one_error_line(capsys.readouterr().err, "w0.extxyz", "every structure has weight 0")
    with pytest.raises(DataError, match="w0.extxyz.*weight 0"):
        ljfit.read_dataset(path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
@pytest.mark.parametrize("which", ["config", "params", "energies-csv", "seed-file"])
def test_fifo_is_refused_not_waited_for(tmp_path, which):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    out = tmp_path / "o"
    if which == "config":
        argv = ["fit", EXAMPLE, "--config", fifo, "--out", out, *FAST]
    elif which == "params":
        argv = ["predict", fifo, EXAMPLE]
    elif which == "energies-csv":
        argv = ["fit", EXAMPLE, "--energies-csv", fifo, "--out", out, *FAST]
    else:
        folder = _seed_copy(tmp_path / "data")
        (folder / "p_2.xyz").unlink()
        os.mkfifo(folder / "p_2.xyz")
        argv = ["fit", folder, "--out", out, *FAST]
    rc, err, _ = _run_cli(argv)
    assert rc == 2
    _one_error_line(err, "named pipe (FIFO)")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
@pytest.mark.parametrize("which", ["config", "params", "energies-csv", "path"])
def test_dev_zero_is_refused(tmp_path, which):
    out = tmp_path / "o"
    argv = {"config": ["fit", EXAMPLE, "--config", "/dev/zero", "--out", out, *FAST],
            "params": ["predict", "/dev/zero", EXAMPLE],
            "energies-csv": ["fit", EXAMPLE, "--energies-csv", "/dev/zero", "--out", out,
                             *FAST],
            "path": ["fit", "/dev/zero", "--out", out, *FAST]}[which]
    rc, err, _ = _run_cli(argv)
    assert rc == 2
    _one_error_line(err, "/dev/zero", "character device")


def test_oversized_config_and_params_are_refused(tmp_path, capsys):
    big = tmp_path / "big.toml"
    big.write_text("# padding\n" * 200_000)
    assert main(["info", str(EXAMPLE), "--config", str(big)]) == 2
    _one_error_line(capsys.readouterr().err, "big.toml", "larger than")


def test_absurd_coordinates(tmp_path, capsys):
    # found by the fuzz suite: 1e308 overflowed the duplicate-atom check (internal error)
    folder = _seed_copy(tmp_path / "data")
    lines = (folder / "p_2_extended.xyz").read_text().split("\n")
    fields = lines[11].split()
    lines[11] = " ".join([fields[0], "1e308", *fields[2:]])
    (folder / "p_2_extended.xyz").write_text("\n".join(lines))
    assert main(["fit", str(folder), "--out", str(tmp_path / "o"), *FAST]) == 2
    _one_error_line(capsys.readouterr().err, "p_2_extended.xyz:12", "1e+308")
    path = tmp_path / "far.extxyz"
    path.write_text("2\nenergy=-1.0\nAr 0 0 0\nAr 1e300 0 0\n")
    with pytest.raises(DataError, match=r"far\.extxyz\[0\].*atom 2 .*1e\+300"):
        ljfit.read_dataset(path)


def test_nan_coordinate_in_extxyz_names_file_and_frame(tmp_path):
    # the duplicate-atom check (shared by the readers) crashed on NaN before Structure
    # could name the file and frame
    path = tmp_path / "nan.extxyz"
    path.write_text("2\nenergy=-1.0\nAr 0 0 0\nAr 3 0 0\n2\nenergy=-1.0\nAr 0 0 0\n"
                    "Ar nan 0 0\n")
    with pytest.raises(DataError, match=r"nan\.extxyz\[1\].*NaN"):
        ljfit.read_dataset(path)


@pytest.mark.parametrize("frame, needle", [
    ('Lattice="0 0 0 0 0 0 0 0 0" pbc="T T T"', "singular cell"),
    ('pbc="T T T"', "singular cell"),
    ('Lattice="5 0 0 5 0 0 0 0 5" pbc="T T T"', "singular cell"),
], ids=["zero-lattice", "pbc-without-lattice", "flat-cell"])
def test_periodic_cell_without_volume_at_reading(tmp_path, capsys, frame, needle):
    path = tmp_path / "cell.extxyz"
    path.write_text(f"2\n{frame} energy=-1.0\nAr 0 0 0\nAr 3 0 0\n")
    assert main(["fit", str(path), "--cutoff", "5", "--out", str(tmp_path / "o"),
                 *FAST]) == 2
    _one_error_line(capsys.readouterr().err, "cell.extxyz[0]", needle)


# -- params.json ---------------------------------------------------------------------------


def _tamper(doc, change):
    doc = json.loads(json.dumps(doc))
    return change(doc) or doc


def _set(path, value):
    def change(doc):
        d = doc
        for k in path[:-1]:
            d = d[k]
        d[path[-1]] = value
    return change


def _delete(path):
    def change(doc):
        d = doc
        for k in path[:-1]:
            d = d[k]
        del d[path[-1]]
    return change


EPS = "epsilon[Ar-Ar]"

TAMPERED = [
    ("no-scope", _delete(["model", "scope"]), "model.scope"),
    ("no-model", _delete(["model"]), "model"),
    ("no-parameters", _delete(["parameters"]), "parameters"),
    ("model-null", _set(["model"], None), "model"),
    ("value-null", _set(["parameters", EPS], None), EPS),
    ("parameters-list", lambda d: d.update(parameters=list(d["parameters"].items())),
     "parameters"),
    ("parameters-empty", _set(["parameters"], {}), "parameters"),
    ("value-string", _set(["parameters", EPS], "0.01"), EPS),
    ("value-bool", _set(["parameters", EPS], True), EPS),
    ("bad-name", lambda d: d["parameters"].update({"gamma[Ar]": 1.0}), "gamma[Ar]"),
    ("name-newline", lambda d: d["parameters"].update({"\n": None}), 'parameters."\\n"'),
    ("cutoff-string", _set(["model", "cutoff"], "ten"), "model.cutoff"),
    ("cutoff-negative", _set(["model", "cutoff"], -3.0), "model.cutoff"),
    ("scope-unknown", _set(["model", "scope"], "per-galaxy"), "model.scope"),
    ("scope-number", _set(["model", "scope"], 3), "model.scope"),
    ("potential-unknown", _set(["model", "potential"], "morse"), "model.potential"),
    ("potential-huge", _set(["model", "potential"], "mie:1000:6"), "model.potential"),
    ("n-disagrees", _set(["model", "n"], 13), "model.n"),
    ("shift-string", _set(["model", "shift"], "yes"), "model.shift"),
    ("groups-number", _set(["model", "groups"], 5), "model.groups"),
    ("groups-unknown", _set(["model", "groups"], "halves"), "model.groups"),
    ("unit-unknown", _set(["model", "energy_unit"], "furlong"), "model.energy_unit"),
    ("epsilon-1e308", _set(["parameters", EPS], 1e308), EPS),
    ("sigma-negative", _set(["parameters", "sigma[Ar-Ar]"], -1.0), "sigma[Ar-Ar]"),
    ("version-future", _set(["ljfit_version"], "7.0.0"), "ljfit_version"),
    ("version-number", _set(["ljfit_version"], 1), "ljfit_version"),
]


@pytest.fixture(scope="module")
def argon(tmp_path_factory):
    """A params.json of argon clusters (total energies) and the extxyz it was fitted to."""
    from conftest import make_cluster_dataset, write_extxyz

    base = tmp_path_factory.mktemp("argon")
    ds = make_cluster_dataset(6, np.random.default_rng(5), elements=("Ar",))
    write_extxyz(ds, base / "ar.extxyz")
    assert main(["fit", str(base / "ar.extxyz"), "--out", str(base / "res"), *FAST]) == 0
    doc = json.loads((base / "res" / "params.json").read_text())
    assert EPS in doc["parameters"]
    return doc, base / "ar.extxyz"


def _write_doc(path: Path, doc) -> Path:
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("name, change, key", TAMPERED, ids=[t[0] for t in TAMPERED])
def test_tampered_params_json(argon, tmp_path, capsys, name, change, key):
    doc, data = argon
    path = _write_doc(tmp_path / "p.json", _tamper(doc, change))
    with pytest.raises(DataError) as info:
        ljfit.LJCalculator.from_file(path)
    assert str(path) in str(info.value) and key in str(info.value)
    assert main(["predict", str(path), str(data)]) == 2
    _one_error_line(capsys.readouterr().err, str(path), key)


@pytest.mark.parametrize("text, needle", [
    ('{"model": {"scope": "per-pair"}, "parameters": {"epsilon[Ar-Ar]": NaN, '
     '"sigma[Ar-Ar]": 3.4}}', "not a finite number"),
    ('{"model": {"scope": "per-pair"}, "parameters": {"epsilon[Ar-Ar]": Infinity, '
     '"sigma[Ar-Ar]": 3.4}}', "not a finite number"),
    ('{"model": {"scope": "per-pair"}, "parameters": {"epsilon[Ar-Ar]": 1e999, '
     '"sigma[Ar-Ar]": 3.4}}', "not a finite number"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"model": {"scope": "per-pair", "scope": "per-site"}, "parameters": {}}', "twice"),
    ('{"model": {"scope": "per-pair"}, "parameters": {"epsilon[Ar-Ar]": 1' + "0" * 5000
     + ', "sigma[Ar-Ar]": 3.4}}', "not a JSON parameter file"),
    ('"just a string"', "expected a JSON object"),
    ("\xff\xfe{}", "not a JSON parameter file"),
], ids=["nan", "infinity", "1e999", "deep", "duplicate-key", "5000-digits", "string",
        "latin-1"])
def test_params_json_text(argon, tmp_path, capsys, text, needle):
    path = tmp_path / "p.json"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(DataError, match=re.escape(needle)):
        ljfit.LJCalculator.from_file(path)
    assert main(["predict", str(path), str(argon[1])]) == 2
    _one_error_line(capsys.readouterr().err, str(path), needle)


@pytest.mark.filterwarnings("default::RuntimeWarning")  # the overflow itself, as for a user
def test_predict_never_writes_inf(argon, tmp_path, capsys):
    # every value within the schema's ranges, yet (sigma/r)^100 overflows
    doc = _tamper(argon[0], lambda d: d["model"].update(potential="mie:100:6", n=100.0))
    doc["parameters"]["sigma[Ar-Ar]"] = 1e4
    path = _write_doc(tmp_path / "p.json", doc)
    out = tmp_path / "e.csv"
    assert main(["predict", str(path), str(argon[1]), "--out", str(out)]) == 2
    _one_error_line(capsys.readouterr().err, str(path), "non-finite energy")
    assert not out.exists()


def test_valid_params_json_still_loads(argon, tmp_path):
    from ase.io import read

    from ljfit.paramsfile import load_params

    doc, data = argon
    path = _write_doc(tmp_path / "ok.json", doc)
    assert load_params(path)["parameters"] == pytest.approx(doc["parameters"])
    atoms = read(data, 0)
    atoms.calc = ljfit.LJCalculator.from_file(path)
    assert np.isfinite(atoms.get_potential_energy())


# ---------------------------------------------------------------------------------------
# import ljfit stays cheap; the public API is unchanged
# ---------------------------------------------------------------------------------------


def test_import_and_help_do_not_load_numpy():
    code = ("import sys, io, contextlib, ljfit\n"
            "assert 'numpy' not in sys.modules, 'import ljfit'\n"
            "from ljfit.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    assert main(['--help']) == 0 and main(['fit', '--help']) == 0\n"
            "assert 'numpy' not in sys.modules, '--help'\n"
            "assert ljfit.LJModel.__name__ == 'LJModel'\n"
            "assert 'numpy' in sys.modules\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("name", ljfit.__all__)
def test_public_names_unchanged(name):
    assert getattr(ljfit, name) is not None
    assert name in dir(ljfit)


def test_public_submodules_and_from_import():
    from ljfit import LJModel, fit  # noqa: F401

    import ljfit.plots  # noqa: F401

    assert ljfit.uncertainty.bootstrap is not None
    assert ljfit.plots.parity is not None
    assert ljfit.fit is ljfit.fitting.fit
    with pytest.raises(AttributeError):
        ljfit.no_such_name  # noqa: B018
