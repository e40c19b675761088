"""A fuzz suite of our own: malformed inputs for every reader, through the public API.

Hypothesis mutates valid files -- truncations, byte flips, inserted bytes, hostile tokens
(huge numbers, NaN/inf, 400 digits, fullwidth digits), other encodings (UTF-16, Latin-1),
CRLF and lone CR line ends, byte-order marks, dropped and duplicated lines -- and each
reader must either accept the result or raise :class:`ljfit.DataError` /
:class:`ljfit.FitError` naming the file: never another exception, never a hang, and never
a write outside the folder it was asked to write.

Readers: the substrate/surface folder (``ljfit.read_dataset``), extended XYZ
(``ljfit.read_dataset``, so the tests keep exercising whatever parser is behind it), the
energies CSV, params.json (``LJCalculator.from_file``), the TOML config
(``ljfit.cli.parse_args``), and the whole command line on a mutated folder.

Running
-------
CI runs a fixed, derandomized set of :data:`EXAMPLES` examples per reader (a few seconds
each). Run longer, with fresh random examples::

    LJFIT_FUZZ_EXAMPLES=2000 LJFIT_FUZZ_RANDOM=1 pytest tests/test_fuzz.py -n 2

``LJFIT_FUZZ_DEADLINE`` (seconds, default 10) is the slowest an example may be; an example
that takes :data:`HANG_SECONDS` is stopped by SIGALRM and reported as a hang.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import ljfit
from ljfit import DataError, FitError, LJFitError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "data" / "example"
TAGS = ROOT / "data" / "example_tags"

#: examples per reader (CI: small and fixed; raise it to fuzz longer)
EXAMPLES = int(os.environ.get("LJFIT_FUZZ_EXAMPLES", "100"))
#: an example slower than this fails (seconds)
DEADLINE = float(os.environ.get("LJFIT_FUZZ_DEADLINE", "10"))
#: an example still running after this is a hang: interrupted and failed
HANG_SECONDS = max(30.0, 3 * DEADLINE)

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=timedelta(seconds=DEADLINE),
    derandomize=not os.environ.get("LJFIT_FUZZ_RANDOM"),
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture],
    print_blob=True,
)


class Hang(Exception):
    """An example ran for :data:`HANG_SECONDS`."""


@contextlib.contextmanager
def no_hang(seconds=HANG_SECONDS):
    """Interrupt the block after ``seconds`` (SIGALRM; main thread of a POSIX process)."""
    if not hasattr(signal, "setitimer") or (threading.current_thread()
                                            is not threading.main_thread()):
        yield
        return

    def alarm(signum, frame):
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def tree(folder: Path) -> dict:
    """Every path under ``folder`` with its size and modification time."""
    out = {}
    for p in sorted(folder.rglob("*")):
        st_ = p.lstat()
        out[str(p.relative_to(folder))] = (st_.st_size, st_.st_mtime_ns)
    return out


def expect_named(exc: BaseException, *names: str) -> None:
    """The exception is one of ours and its message names one of ``names``."""
    assert isinstance(exc, (DataError, FitError)), f"{type(exc).__name__}: {exc}"
    text = str(exc)
    assert any(n in text for n in names), f"no file named in: {text}"
    assert "\n" not in text.strip(), text


# ---------------------------------------------------------------------------------------
# mutations
# ---------------------------------------------------------------------------------------

HOSTILE_TOKENS = [
    "nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e308", "-1e308", "1e999", "1e-400",
    "-0", "0", "9" * 20, "9" * 400, "1" + "0" * 5000, "0x1F", "1_000", "１２", "²", "٣",
    "1e", "--1", ".", "", "\u00a0", "\t", "Au", "Xx", "1,5", "3.0.1", "+", "e10",
]


@st.composite
def mutation(draw, data: bytes, protect_counts: bool = False) -> bytes:
    """One to three damaging edits of ``data``."""
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "token",
                                     "token", "encoding", "line-ends", "bom", "lines"]))
        n = len(data)
        if kind == "truncate":
            data = data[: draw(st.integers(0, max(n - 1, 0)))]
        elif kind == "flip" and n:
            b = bytearray(data)
            for _ in range(draw(st.integers(1, 4))):
                i = draw(st.integers(0, n - 1))
                b[i] ^= draw(st.integers(1, 255))
            data = bytes(b)
        elif kind == "insert":
            i = draw(st.integers(0, n))
            data = data[:i] + draw(st.binary(min_size=1, max_size=20)) + data[i:]
        elif kind == "delete" and n:
            i = draw(st.integers(0, n - 1))
            data = data[:i] + data[i + draw(st.integers(1, 40)):]
        elif kind == "token":
            lines = data.split(b"\n")
            k = draw(st.integers(0, max(len(lines) - 1, 0)))
            tokens = lines[k].split(b" ")
            j = draw(st.integers(0, max(len(tokens) - 1, 0)))
            token = draw(st.sampled_from(HOSTILE_TOKENS)).encode("utf-8")
            if protect_counts and lines[k].strip().isdigit() and len(token) > 4:
                token = b"3"  # see test_extxyz_declared_sizes
            tokens[j] = token
            lines[k] = b" ".join(tokens)
            data = b"\n".join(lines)
        elif kind == "encoding":
            text = data.decode("utf-8", "replace")
            enc = draw(st.sampled_from(["utf-16", "utf-16-le", "utf-32", "latin-1",
                                        "cp1252"]))
            data = (text + draw(st.sampled_from(["", "é", "Å", "€"]))).encode(enc, "replace")
        elif kind == "line-ends":
            data = data.replace(b"\n", draw(st.sampled_from([b"\r\n", b"\r", b"\n\n"])))
        elif kind == "bom":
            data = draw(st.sampled_from([b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"])) + data
        elif kind == "lines":
            lines = data.split(b"\n")
            if lines:
                k = draw(st.integers(0, len(lines) - 1))
                if draw(st.booleans()):
                    del lines[k]
                else:
                    lines.insert(k, lines[k])
            data = b"\n".join(lines)
    return data


_DECLARED_COLUMNS = re.compile(rb"properties=\S*?:(\d{4,})", re.IGNORECASE)


def huge_declared_size(data: bytes) -> bool:
    """An XYZ count line above 10^4, or a ``Properties=`` column count above 999: sizes the
    old extxyz reader allocates before checking them against the file (the known item of
    the reader rewrite, tested apart in :func:`test_extxyz_declared_sizes`)."""
    for line in data.replace(b"\r", b"\n").split(b"\n"):
        s = line.strip()
        if s.isdigit() and len(s) > 4:
            return True
        if _DECLARED_COLUMNS.search(line):
            return True
    return False


@contextlib.contextmanager
def memory_cap(extra=3 << 30):
    """Cap the address space at its current size + ``extra`` while the block runs, so a
    reader that allocates what a hostile file declares fails with MemoryError instead of
    taking the machine down (a worker was OOM-killed at 23 GB before this)."""
    try:
        import resource

        status = Path("/proc/self/status").read_text()
        vm = int(re.search(r"^VmSize:\s*(\d+) kB", status, re.M).group(1)) * 1024
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, OSError, AttributeError):
        yield
        return
    cap = vm + extra
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


# ---------------------------------------------------------------------------------------
# the substrate/surface folder
# ---------------------------------------------------------------------------------------

SEED_FILES = ["p_1.xyz", "p_1_extended.xyz", "p_2.xyz", "p_2_extended.xyz"]


def _seed_folder(base: Path) -> Path:
    folder = base / "data"
    folder.mkdir()
    for f in SEED_FILES:
        shutil.copy(EXAMPLE / f, folder / f)
    return folder


@FUZZ
@given(st.data())
def test_seed_folder(data):
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        folder = _seed_folder(base)
        name = data.draw(st.sampled_from(SEED_FILES), label="file")
        original = (folder / name).read_bytes()
        (folder / name).write_bytes(data.draw(mutation(original), label="bytes"))
        before = tree(base)
        with no_hang(), memory_cap():
            try:
                ds = ljfit.read_dataset(folder)
            except LJFitError as exc:
                expect_named(exc, str(folder))
            else:
                assert len(ds) == 2
                assert all(math.isfinite(e) for e in ds.energies)
        assert tree(base) == before  # a reader writes nothing


# ---------------------------------------------------------------------------------------
# extended XYZ
# ---------------------------------------------------------------------------------------


def _two_frames() -> bytes:
    lines = (TAGS / "dimers.extxyz").read_bytes().split(b"\n")
    n1 = int(lines[0])
    n2 = int(lines[n1 + 2])
    return b"\n".join(lines[: n1 + 2 + n2 + 2]) + b"\n"


EXTXYZ = _two_frames()


@FUZZ
@given(st.data())
def test_extxyz(data):
    mutated = data.draw(mutation(EXTXYZ, protect_counts=True), label="bytes")
    assume(not huge_declared_size(mutated))
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        path = base / "frames.extxyz"
        path.write_bytes(mutated)
        before = tree(base)
        with no_hang(), memory_cap():
            try:
                ds = ljfit.read_dataset(path, require_energies=data.draw(st.booleans()))
            except LJFitError as exc:
                expect_named(exc, str(path))
            else:
                for s in ds:
                    assert all(map(math.isfinite, s.positions.ravel()))
        assert tree(base) == before


# sizes a file declares -- a count line of 10^9 atoms, a Properties column count of 4*10^8
# -- are checked against the file before any reader allocates them (issue #11)
@pytest.mark.parametrize("edit", ["count-line", "properties-columns"])
def test_extxyz_declared_sizes(tmp_path, edit):
    lines = EXTXYZ.decode().split("\n")
    if edit == "count-line":
        lines[0] = "1000000000"
    else:
        lines[1] = lines[1].replace("pos:R:3", "pos:R:399999999")
    assert huge_declared_size("\n".join(lines).encode())  # what the generic test avoids
    path = tmp_path / "huge.extxyz"
    path.write_text("\n".join(lines))
    # in a child process with 4 GB of address space and a deadline
    code = ("import resource, sys, ljfit\n"
            "resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))\n"
            "try:\n    ljfit.read_dataset(sys.argv[1])\n"
            "except ljfit.DataError as e:\n    print(e)\n"
            "    sys.exit(3 if 'MemoryError' in str(e) else 0)\n"
            "sys.exit(1)\n")
    try:
        proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                              text=True, timeout=5)
    except subprocess.TimeoutExpired:
        pytest.fail("reading it took more than 5 s")
    assert proc.returncode == 0 and str(path) in proc.stdout, (proc.stdout + proc.stderr)[-500:]


# ---------------------------------------------------------------------------------------
# energies CSV
# ---------------------------------------------------------------------------------------

CSV = b"name,energy\np_1,-0.19085\np_2,-0.2\n"


@FUZZ
@given(st.data())
def test_energies_csv(data):
    from ljfit.io import read_energies_csv

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        path = base / "energies.csv"
        path.write_bytes(data.draw(mutation(CSV), label="bytes"))
        before = tree(base)
        with no_hang():
            try:
                table = read_energies_csv(path)
            except LJFitError as exc:
                expect_named(exc, str(path))
            else:
                assert table and all(math.isfinite(v) for v in table.values())
        assert tree(base) == before


# ---------------------------------------------------------------------------------------
# params.json
# ---------------------------------------------------------------------------------------

PARAMS = {
    "ljfit_version": "0.1.0",
    "model": {"scope": "per-pair", "mixing": None, "potential": "lj", "n": 12.0, "m": 6.0,
              "cutoff": None, "shift": False, "offset": False, "energy": "total",
              "groups": "all", "slots": ["Ar-Ar"], "group_mode": "all", "layout": "ase",
              "n_substrate": None, "read_groups": "auto", "energy_key": "energy",
              "energy_unit": "eV"},
    "method": "linear",
    "parameters": {"epsilon[Ar-Ar]": 0.0104, "sigma[Ar-Ar]": 3.4},
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=4),
    max_leaves=12,
)


@st.composite
def params_document(draw):
    """params.json with one to three keys replaced, deleted or added, at any depth."""
    doc = json.loads(json.dumps(PARAMS))
    for _ in range(draw(st.integers(1, 3))):
        parent = doc
        path = []
        while isinstance(parent, dict) and parent and draw(st.booleans()):
            key = draw(st.sampled_from(sorted(parent)))
            if not isinstance(parent[key], dict):
                break
            path.append(key)
            parent = parent[key]
        if not isinstance(parent, dict):
            continue
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        keys = sorted(parent)
        if action == "add" or not keys:
            parent[draw(st.text(max_size=12))] = draw(json_values)
        elif action == "delete":
            del parent[draw(st.sampled_from(keys))]
        else:
            parent[draw(st.sampled_from(keys))] = draw(json_values)
    return doc


def _check_params(path: Path):
    with no_hang():
        try:
            calc = ljfit.LJCalculator.from_file(path)
        except LJFitError as exc:
            expect_named(exc, str(path))
            return
    values = calc.parameters["values"]
    assert all(isinstance(v, float) and math.isfinite(v) for v in values.values())


@FUZZ
@given(params_document())
def test_params_json_structure(doc):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "params.json"
        path.write_text(json.dumps(doc, allow_nan=True))
        _check_params(path)


@FUZZ
@given(st.data())
def test_params_json_bytes(data):
    text = json.dumps(PARAMS, indent=1).encode()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "params.json"
        path.write_bytes(data.draw(mutation(text), label="bytes"))
        _check_params(path)


# ---------------------------------------------------------------------------------------
# the TOML config
# ---------------------------------------------------------------------------------------

OPTION_KEYS = ["scope", "mixing", "potential", "cutoff", "shift", "offset", "method", "loss",
               "f_scale", "regularization", "seed", "niter", "maxiter", "n-starts",
               "bootstrap", "cv", "bounds", "fix", "prior", "layout", "n_substrate",
               "groups", "energy_unit", "energies_csv", "out", "force", "no_plots", "quiet",
               "unknown_key"]

toml_scalars = (st.booleans() | st.integers(min_value=-(2**63), max_value=2**63 - 1)
                | st.floats(allow_nan=True, allow_infinity=True)
                | st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20))
toml_keys = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)


def _toml_containers(inner):
    return st.lists(inner, max_size=3) | st.dictionaries(toml_keys, inner, max_size=3)


toml_values = st.recursive(toml_scalars, _toml_containers, max_leaves=8)


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") \
            if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"


@st.composite
def config_text(draw) -> bytes:
    items = draw(st.dictionaries(st.sampled_from(OPTION_KEYS), toml_values, max_size=4))
    text = "".join(f"{k} = {_toml(v)}\n" for k, v in items.items())
    if draw(st.booleans()):
        section = draw(st.sampled_from(["fit", "info", "predict", "nonsense"]))
        more = draw(st.dictionaries(st.sampled_from(OPTION_KEYS), toml_values, max_size=2))
        text += f"[{section}]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in more.items())
    data = text.encode("utf-8")
    if draw(st.booleans()):
        data = draw(mutation(data))
    return data


@FUZZ
@given(config_text())
def test_config(data):
    from ljfit.cli import _UsageError, parse_args

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        path = base / "fit.toml"
        path.write_bytes(data)
        before = tree(base)
        with no_hang():
            try:
                parse_args(["fit", str(EXAMPLE), "--config", str(path)])
            except _UsageError as exc:  # a usage error of the command line itself
                pytest.fail(f"config turned into a usage error: {exc}")
            except LJFitError as exc:
                expect_named(exc, str(path))
        assert tree(base) == before


# ---------------------------------------------------------------------------------------
# the command line on a mutated folder: exit 0 or 2, one line, nothing outside --out
# ---------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("default::RuntimeWarning")  # as a user sees them: warnings
@settings(FUZZ, max_examples=max(EXAMPLES // 3, 5))
@given(st.data())
def test_command_line(data):
    import io
    from contextlib import redirect_stderr, redirect_stdout

    from ljfit.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        folder = _seed_folder(base)
        name = data.draw(st.sampled_from(SEED_FILES), label="file")
        (folder / name).write_bytes(data.draw(mutation((folder / name).read_bytes()),
                                              label="bytes"))
        out = base / "res"
        before = tree(base)
        err = io.StringIO()
        with no_hang(), memory_cap(), redirect_stderr(err), redirect_stdout(io.StringIO()):
            code = main(["fit", str(folder), "--out", str(out), "--method", "linear",
                         "--no-plots", "--quiet"])
        assert code in (0, 2), err.getvalue()
        lines = err.getvalue().strip().splitlines()
        if code == 2:
            assert len(lines) == 1 and lines[0].startswith("ljfit: error: "), lines
            assert str(folder) in lines[0], lines[0]
            assert not out.exists()
        after = {k: v for k, v in tree(base).items() if k != "res" and not k.startswith("res/")}
        assert after == before  # nothing outside --out was touched
