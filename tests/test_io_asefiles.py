"""The compiled extended-XYZ reader against ASE's: the same Dataset from every file, and the
forces, stress and virial conventions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.lj import LennardJones
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from ljfit import DataError
from ljfit.io import frames as io_frames
from ljfit.io import read_dataset

DATA = Path(__file__).resolve().parent.parent / "data"


def _with_calc(atoms, **results):
    atoms = atoms.copy()
    atoms.calc = SinglePointCalculator(atoms, **results)
    return atoms


def _argon(n=3, seed=0):
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(n):
        a = bulk("Ar", "fcc", a=5.26, cubic=True)
        a.rattle(0.1, seed=int(rng.integers(1 << 30)))
        a.calc = LennardJones(epsilon=0.0104, sigma=3.4, rc=6.0)
        frames.append(_with_calc(a, energy=a.get_potential_energy(), forces=a.get_forces(),
                                 stress=a.get_stress()))
    return frames


def _dimers():
    out = []
    for k, sep in enumerate((3.0, 3.5, 4.0)):
        atoms = molecule("H2O") + Atoms("Ar", positions=[[0.0, 0.0, sep]])
        atoms.set_tags([0, 0, 0, 1])
        atoms.info["name"] = f"w{k}"
        atoms.info["weight"] = 1.0 + k
        out.append(_with_calc(atoms, energy=-0.01 * k))
    return out


def _case(tmp, name):
    """(path, read_dataset options) of one kind of extended XYZ file."""
    f = tmp / f"{name}.extxyz"
    if name == "argon-forces-stress":
        write(f, _argon(), format="extxyz")
        return f, {"groups": "all"}
    if name == "dimers-tags-names-weights":
        write(f, _dimers(), format="extxyz")
        return f, {}
    if name == "Energy-key":
        frames = []
        for a in _dimers():
            a = a.copy()
            a.info["Energy"] = -1.0
            frames.append(a)
        write(f, frames, format="extxyz")
        return f, {"energy_key": "Energy"}
    if name == "virial":
        frames = []
        for a in _argon(2, seed=3):
            s = a.calc.results["stress"]
            full = np.array([[s[0], s[5], s[4]], [s[5], s[1], s[3]], [s[4], s[3], s[2]]])
            b = a.copy()
            b.info["energy"] = a.calc.results["energy"]
            b.info["virial"] = -full * a.get_volume()
            frames.append(b)
        write(f, frames, format="extxyz")
        return f, {"groups": "all"}
    if name == "slab-pbc-TTF":
        a = _with_calc(Atoms("Ar2", positions=[[0, 0, 0], [0, 0, 3.6]],
                             cell=[[5, 0, 0], [0.5, 5, 0], [0, 0, 20]],
                             pbc=[True, True, False]), energy=-0.01)
        write(f, [a, a], format="extxyz")
        return f, {"groups": "all"}
    if name == "no-lattice-no-pbc":  # hand-written extended XYZ: ASE makes it a cluster
        f.write_text("2\nenergy=-1.0\nAr 0 0 0\nAr 3.5 0 0\n"
                     "2\nenergy=-0.5 name=x\nAr 0 0 0\nAr 4.0 0 0\n")
        return f, {"groups": "all"}
    if name == "pbc-key-only":
        f.write_text('2\nenergy=-1.0 pbc="F F F"\nAr 0 0 0\nAr 3.5 0 0\n')
        return f, {"groups": "all"}
    raise AssertionError(name)


CASES = ["argon-forces-stress", "dimers-tags-names-weights", "Energy-key", "virial",
         "slab-pbc-TTF", "no-lattice-no-pbc", "pbc-key-only"]
SHIPPED = sorted(str(p) for p in DATA.rglob("*.extxyz")) + sorted(
    str(p) for p in DATA.rglob("*.xyz") if "_extended" not in p.name and "p_" not in p.name)


def _same(a, b):
    assert a.names == b.names
    assert (a.group_mode, a.interaction, a.energy_unit) == (b.group_mode, b.interaction,
                                                            b.energy_unit)
    for s, t in zip(a, b):
        assert s.symbols == t.symbols
        np.testing.assert_array_equal(s.positions, t.positions)
        np.testing.assert_array_equal(s.cell, t.cell)
        np.testing.assert_array_equal(s.pbc, t.pbc)
        assert s.energy == t.energy and s.weight == t.weight
        for attr in ("groups", "forces", "stress"):
            u, v = getattr(s, attr), getattr(t, attr)
            assert (u is None) == (v is None), attr
            if u is not None:
                np.testing.assert_array_equal(u, v)


def _both(monkeypatch, path, **options):
    fast = read_dataset(path, **options)
    calls = []
    real = io_frames._extxyz_frames

    def spy(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(io_frames, "_extxyz_frames", spy)
    read_dataset(path, **options)
    assert calls, "the compiled reader was not tried"
    monkeypatch.setattr(io_frames, "_extxyz_frames", lambda *a, **k: None)
    slow = read_dataset(path, **options)
    return fast, slow


@pytest.mark.parametrize("name", CASES)
def test_compiled_and_ase_readers_agree(tmp_path, monkeypatch, name):
    path, options = _case(tmp_path, name)
    fast, slow = _both(monkeypatch, path, **options)
    _same(fast, slow)


@pytest.mark.parametrize("path", SHIPPED, ids=[Path(p).name for p in SHIPPED])
def test_compiled_and_ase_readers_agree_on_shipped_files(monkeypatch, path):
    fast, slow = _both(monkeypatch, path)
    _same(fast, slow)


def test_the_compiled_reader_is_the_one_used(tmp_path, monkeypatch):
    path, _ = _case(tmp_path, "argon-forces-stress")
    monkeypatch.setattr("ase.io.iread", lambda *a, **k: (_ for _ in ()).throw(
        AssertionError("ASE's reader was used")))
    ds = read_dataset(path, groups="all")
    assert len(ds) == 3 and ds.has_forces.all() and ds.has_stress.all()


def test_forces_and_stress_are_read_in_ase_convention(tmp_path):
    frames = _argon(2)
    path = tmp_path / "ar.extxyz"
    write(path, frames, format="extxyz")
    ds = read_dataset(path, groups="all")
    for s, a in zip(ds, frames):  # as written: 8 decimals for forces, %.16g for the stress
        np.testing.assert_allclose(s.forces, a.calc.results["forces"], rtol=0, atol=1e-8)
        np.testing.assert_allclose(s.stress, a.calc.results["stress"], rtol=1e-15)


def test_virial_becomes_minus_virial_over_volume(tmp_path):
    path, _ = _case(tmp_path, "virial")
    ds = read_dataset(path, groups="all")
    ref = _argon(2, seed=3)
    for s, a in zip(ds, ref):
        np.testing.assert_allclose(s.stress, a.calc.results["stress"], rtol=1e-9, atol=1e-14)


def test_structure_names_from_info(tmp_path):
    path, _ = _case(tmp_path, "dimers-tags-names-weights")
    ds = read_dataset(path)
    assert ds.names == ["w0", "w1", "w2"]
    assert ds.weights.tolist() == [1.0, 2.0, 3.0]


def test_glob_dataset_name_is_a_stem(tmp_path):
    for k in range(2):
        write(tmp_path / f"run_{k}.extxyz", _dimers(), format="extxyz")
    ds = read_dataset(str(tmp_path / "*.extxyz"))
    assert ds.name == "run"
    one = read_dataset(str(tmp_path / "run_0.ext*"))
    assert one.name == "run_0"


def test_several_paths_make_one_dataset(tmp_path):
    a, b = tmp_path / "a.extxyz", tmp_path / "b.extxyz"
    write(a, _argon(2), format="extxyz")
    write(b, _argon(3, seed=1), format="extxyz")
    ds = read_dataset([str(a), str(b)], groups="all")
    assert len(ds) == 5
    assert ds.names == ["a[0]", "a[1]", "b[0]", "b[1]", "b[2]"]


def test_several_paths_with_clashing_names_are_prefixed(tmp_path):
    for d in ("x", "y"):
        (tmp_path / d).mkdir()
        write(tmp_path / d / "run.extxyz", _argon(2), format="extxyz")
    ds = read_dataset([str(tmp_path / "x" / "run.extxyz"), str(tmp_path / "y" / "run.extxyz")],
                      groups="all")
    assert ds.names == ["x/run[0]", "x/run[1]", "y/run[0]", "y/run[1]"]


@pytest.mark.parametrize("text, words", [
    pytest.param("1000000000\nLattice=\"10 0 0 0 10 0 0 0 10\" energy=1.0\nAr 0 0 0\n",
                 "says 1000000000 atoms but the file holds only 1", id="huge-count"),
    pytest.param("3\nenergy=1.0\nAr 0 0 0\nAr 0 0 3\n", "says 3 atoms but the file holds only 2",
                 id="truncated"),
    pytest.param("2\nenergy=1.0\nAr 0 0 0\nAr 0 0 nan\n", "NaN", id="nan-coordinate"),
    pytest.param("x\nenergy=1.0\nAr 0 0 0\n", "atom count", id="no-count-line"),
])
def test_hostile_extxyz(tmp_path, text, words):
    path = tmp_path / "bad.extxyz"
    path.write_text(text)
    with pytest.raises(DataError) as err:
        read_dataset(path, groups="all")
    assert "bad.extxyz" in str(err.value) and words in str(err.value), str(err.value)


def _argon_text(tmp_path, edit):
    path = tmp_path / "f.extxyz"
    write(path, _argon(2), format="extxyz")
    lines = path.read_text().splitlines(keepends=True)
    edit(lines)
    path.write_text("".join(lines))
    return path


FRAME1 = 6  # 4 atoms per frame: frame 1's count line is line 6 (0-based)


def _nan_force(lines):
    parts = lines[FRAME1 + 2].split()
    parts[-1] = "nan"
    lines[FRAME1 + 2] = " ".join(parts) + "\n"


def _five_stress(lines):
    head = lines[FRAME1 + 1]
    start = head.index('stress="') + len('stress="')
    end = head.index('"', start)
    lines[FRAME1 + 1] = head[:start] + "1 2 3 4 5" + head[end:]


@pytest.mark.parametrize("edit, words", [
    pytest.param(_nan_force, "NaN", id="forces-nan"),
    pytest.param(_five_stress, "expected 6", id="stress-5-values"),
])
def test_bad_forces_and_stress_name_file_and_frame(tmp_path, edit, words):
    path = _argon_text(tmp_path, edit)
    with pytest.raises(DataError) as err:
        read_dataset(path, groups="all")
    assert "f.extxyz[1]" in str(err.value) and words in str(err.value), str(err.value)


def test_forces_of_wrong_length_are_a_data_error():
    from ljfit import Structure

    with pytest.raises(DataError, match=r"s\[3\].*forces have shape \(2, 3\), expected \(3, 3\)"):
        Structure("s", ["Ar"] * 3, np.eye(3) * 3, forces=np.zeros((2, 3)), source="s[3]")


def test_the_ase_names_copied_into_the_reader_are_ases():
    """The compiled reader translates frames with copies of two constants of ase.io.extxyz
    (importing ase.io costs 0.35 s): they must be ASE's, or the two readers would differ."""
    from ase.io.extxyz import REV_PROPERTY_NAME_MAP, per_config_properties

    assert io_frames._ASE_COLUMN_NAMES == REV_PROPERTY_NAME_MAP
    assert io_frames._ASE_PER_CONFIG == frozenset(per_config_properties)


def test_reading_extended_xyz_does_not_import_ase_io(tmp_path):
    """ase.io's package __init__ loads scipy.integrate and scipy.optimize: the compiled
    reader of every frame (the default index) does without it."""
    import subprocess
    import sys

    path, _ = _case(tmp_path, "argon-forces-stress")
    code = ("import sys; from ljfit.io import read_dataset; "
            f"ds = read_dataset({str(path)!r}, groups='all'); assert len(ds) == 3; "
            "print(sorted(m for m in sys.modules if m.startswith(('ase.io', 'scipy.'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "ase.io" not in out and "scipy.optimize" not in out, out


def _nan_position(lines):
    parts = lines[FRAME1 + 3].split()
    parts[2] = "nan"
    lines[FRAME1 + 3] = " ".join(parts) + "\n"


def _third_frame_nan_force(lines):
    write_at = 2 * FRAME1 + 2  # frame 2's first atom line
    parts = lines[write_at].split()
    parts[-1] = "nan"
    lines[write_at] = " ".join(parts) + "\n"


def test_the_first_bad_frame_is_named_when_several_are_bad(tmp_path):
    """Frames are checked in bulk; with a bad position in frame 1 (a Structure check) and a
    bad force in frame 2 (a reader check, which the bulk pass meets first), the error is
    frame 1's, as when every frame was checked in turn."""
    path = tmp_path / "f.extxyz"
    write(path, _argon(3), format="extxyz")
    lines = path.read_text().splitlines(keepends=True)
    _nan_position(lines)
    _third_frame_nan_force(lines)
    path.write_text("".join(lines))
    with pytest.raises(DataError) as err:
        read_dataset(path, groups="all")
    assert "f.extxyz[1]" in str(err.value) and "NaN" in str(err.value), str(err.value)


def test_frames_become_structures_in_one_batch(tmp_path, monkeypatch):
    """The structures of a clean file are made by Structure.batch's bulk checks, not one
    constructor call per frame (~40 µs each, most of reading thousands of frames)."""
    from ljfit import Structure

    path, _ = _case(tmp_path, "argon-forces-stress")
    calls = []
    real = Structure.__post_init__
    monkeypatch.setattr(Structure, "__post_init__",
                        lambda self: (calls.append(1), real(self))[1])
    ds = read_dataset(path, groups="all")
    assert len(ds) == 3 and not calls
