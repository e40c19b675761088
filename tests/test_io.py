"""Tests of ljfit.io: both layouts, energies, units, groups, errors, and the shipped data."""

from __future__ import annotations

import importlib.util
import json
import math
import warnings
from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from ase.calculators.singlepoint import SinglePointCalculator
from ase.data.s22 import create_s22_system, get_number_of_dimer_atoms

from ljfit import DataError, Dataset
from ljfit.io import (
    ENERGY_UNITS,
    assign_groups,
    canonical_unit,
    energy_factor,
    find_duplicate_atoms,
    groups_for_atoms,
    parse_groups,
    read_dataset,
    read_energies_csv,
    structure_files,
)

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"

# -- builders of test inputs -------------------------------------------------------------------

SUB_SYMBOLS = ["O", "H", "H"]
SUB_POS = np.array([[0.0, 0.0, 3.0], [0.76, 0.0, 3.6], [-0.76, 0.0, 3.6]])
SURF_SYMBOLS = ["Ar", "Ar"]
SURF_POS = np.array([[0.0, 0.0, 0.0], [3.8, 0.0, 0.0]])


def _line(sym, xyz):
    return f"{sym} {xyz[0]:.8f} {xyz[1]:.8f} {xyz[2]:.8f}\n"


def write_seed(folder: Path, numbers, energy=lambda n: -0.1 * n, shift=lambda n: 0.1 * n):
    """p_N.xyz / p_N_extended.xyz for each N: water above Ar2, water lifted by shift(N)."""
    folder.mkdir(parents=True, exist_ok=True)
    for n in numbers:
        sub = SUB_POS + [0.0, 0.0, shift(n)]
        sub_lines = [_line(s, x) for s, x in zip(SUB_SYMBOLS, sub)]
        surf_lines = [_line(s, x) for s, x in zip(SURF_SYMBOLS, SURF_POS)]
        (folder / f"p_{n}.xyz").write_text(
            f"{len(sub_lines)}\nenergy {energy(n):.9f}\n" + "".join(sub_lines)
        )
        (folder / f"p_{n}_extended.xyz").write_text("".join(sub_lines + surf_lines))
    return folder


def dimer(sep: float, energy=None, tags=True, **info) -> Atoms:
    """H2O (tag 0) with an Ar atom (tag 1) ``sep`` Å above."""
    atoms = molecule("H2O") + Atoms("Ar", positions=[[0.0, 0.0, sep]])
    if tags:
        atoms.set_tags([0, 0, 0, 1])
    atoms.info.update(info)
    if energy is not None:
        atoms.calc = SinglePointCalculator(atoms, energy=energy)
    return atoms


def write_extxyz(path: Path, frames) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ase.io.write(path, frames, format="extxyz")
    return path


# -- units -------------------------------------------------------------------------------------

KCAL_MOL_IN_EV = 0.0433641


@pytest.mark.parametrize(
    "unit, factor",
    [
        ("eV", 1.0),
        ("kcal/mol", KCAL_MOL_IN_EV),
        ("kJ/mol", KCAL_MOL_IN_EV / 4.184),
        ("Ha", 27.211386),
    ],
)
def test_energy_units(unit, factor):
    assert ENERGY_UNITS[unit] == pytest.approx(factor, rel=2e-6)
    assert energy_factor(unit) == ENERGY_UNITS[unit]


@pytest.mark.parametrize(
    "alias, canonical",
    [
        ("ev", "eV"),
        ("EV", "eV"),
        ("kcal", "kcal/mol"),
        ("KCAL/MOL", "kcal/mol"),
        ("kj/mol", "kJ/mol"),
        ("kJ", "kJ/mol"),
        ("hartree", "Ha"),
        ("Hartree", "Ha"),
        ("ha", "Ha"),
    ],
)
def test_energy_unit_aliases(alias, canonical):
    assert canonical_unit(alias) == canonical
    assert energy_factor(alias) == ENERGY_UNITS[canonical]


def test_one_kcal_per_mol():
    assert abs(energy_factor("kcal/mol") - KCAL_MOL_IN_EV) < 1e-6


def test_unknown_unit_lists_valid_ones():
    with pytest.raises(DataError, match="furlong") as err:
        energy_factor("furlong")
    for name in ENERGY_UNITS:
        assert name in str(err.value)


@pytest.mark.parametrize("unit", list(ENERGY_UNITS))
def test_seed_energies_converted(tmp_path, unit):
    write_seed(tmp_path, [1, 2], energy=lambda n: -2.0 * n)
    ds = read_dataset(tmp_path, energy_unit=unit)
    np.testing.assert_allclose(ds.energies, [-2.0 * ENERGY_UNITS[unit], -4.0 * ENERGY_UNITS[unit]])
    assert ds.energy_unit == unit


@pytest.mark.parametrize("unit", list(ENERGY_UNITS))
def test_extxyz_energies_converted(tmp_path, unit):
    f = write_extxyz(tmp_path / "d.extxyz", [dimer(3.0, -1.5), dimer(3.5, -0.5)])
    ds = read_dataset(f, energy_unit=unit.lower())
    np.testing.assert_allclose(ds.energies, np.array([-1.5, -0.5]) * ENERGY_UNITS[unit])
    assert ds.energy_unit == unit


# -- the seed layout ---------------------------------------------------------------------------


def test_seed_layout_numeric_order(tmp_path):
    write_seed(tmp_path, range(1, 13))
    (tmp_path / "README.md").write_text("notes")
    ds = read_dataset(tmp_path)
    assert isinstance(ds, Dataset)
    assert ds.layout == "seed" and ds.group_mode == "seed" and ds.interaction
    assert ds.names == [f"p_{n}" for n in range(1, 13)]  # p_1 read, p_10 after p_9
    np.testing.assert_allclose(ds.energies, [-0.1 * n for n in range(1, 13)])
    s = ds[9]
    assert s.symbols == tuple(SUB_SYMBOLS + SURF_SYMBOLS)
    assert s.groups.tolist() == [0, 0, 0, 1, 1]
    np.testing.assert_allclose(s.positions[:3], SUB_POS + [0, 0, 1.0])
    np.testing.assert_allclose(s.positions[3:], SURF_POS)
    assert not s.periodic and not s.cell.any()
    assert s.source.endswith("p_10_extended.xyz")


def test_seed_layout_forced_and_str_path(tmp_path):
    write_seed(tmp_path, [1, 2])
    ds = read_dataset(str(tmp_path), layout="seed")
    assert ds.names == ["p_1", "p_2"]


def test_seed_gaps_warned(tmp_path):
    write_seed(tmp_path, [1, 2, 4, 7])
    with pytest.warns(UserWarning, match="p_3, p_5, p_6"):
        ds = read_dataset(tmp_path)
    assert ds.names == ["p_1", "p_2", "p_4", "p_7"]


def test_seed_missing_p1_is_a_gap(tmp_path):
    write_seed(tmp_path, [2, 3])
    with pytest.warns(UserWarning, match="p_1"):
        ds = read_dataset(tmp_path)
    assert ds.names == ["p_2", "p_3"]


def test_seed_no_warning_without_gaps(tmp_path):
    write_seed(tmp_path, [1, 2, 3])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_dataset(tmp_path)


def test_seed_n_substrate_override(tmp_path):
    write_seed(tmp_path, [1, 2])
    ds = read_dataset(tmp_path, n_substrate=1)
    assert ds[0].groups.tolist() == [0, 1, 1, 1, 1]
    ds = read_dataset(tmp_path, groups="first:4")
    assert ds[0].groups.tolist() == [0, 0, 0, 0, 1]


@pytest.mark.parametrize("groups", ["tags", "fragments", "all", "array:x"])
def test_seed_rejects_other_group_modes(tmp_path, groups):
    write_seed(tmp_path, [1])
    with pytest.raises(DataError, match="groups"):
        read_dataset(tmp_path, groups=groups)


def test_seed_extended_with_xyz_header_accepted(tmp_path):
    write_seed(tmp_path, [1])
    f = tmp_path / "p_1_extended.xyz"
    f.write_text("5\nwhatever\n" + f.read_text())
    assert read_dataset(tmp_path)[0].n_atoms == 5


def test_seed_energies_from_csv(tmp_path):
    write_seed(tmp_path, [1, 2])
    csv = tmp_path / "e.csv"
    csv.write_text("name,energy\np_2,-7.0\np_1.xyz,-3.0\n")
    ds = read_dataset(tmp_path, energies_csv=csv)
    np.testing.assert_allclose(ds.energies, [-3.0, -7.0])


def test_seed_prediction_without_energy(tmp_path):
    write_seed(tmp_path, [1])
    (tmp_path / "p_2_extended.xyz").write_text((tmp_path / "p_1_extended.xyz").read_text())
    ds = read_dataset(tmp_path, n_substrate=3, require_energies=False)
    assert ds.names == ["p_1", "p_2"]
    assert ds.energies[0] == pytest.approx(-0.1) and math.isnan(ds.energies[1])
    assert not ds.has_energies


# -- the ASE layout ----------------------------------------------------------------------------


def test_extxyz_energy_from_calculator(tmp_path):
    f = write_extxyz(tmp_path / "dimers.extxyz", [dimer(3.0 + k, -0.1 * k) for k in range(3)])
    assert "energy=" in f.read_text()
    assert ase.io.read(f).calc is not None  # ASE >= 3.23 puts energy= into the calculator
    ds = read_dataset(f)
    assert ds.layout == "ase" and ds.group_mode == "tags"
    assert ds.names == ["dimers[0]", "dimers[1]", "dimers[2]"]
    np.testing.assert_allclose(ds.energies, [0.0, -0.1, -0.2])
    assert ds[1].source.endswith("dimers.extxyz[1]")


def test_extxyz_energy_from_info_key(tmp_path):
    f = write_extxyz(
        tmp_path / "d.xyz", [dimer(3.0, dft_energy=-1.25), dimer(4.0, dft_energy=-0.5)]
    )
    ds = read_dataset(f, energy_key="dft_energy")
    np.testing.assert_allclose(ds.energies, [-1.25, -0.5])


def test_extxyz_info_energy_wins_over_calculator(tmp_path):
    a = dimer(3.0, -1.0)
    a.info["energy_ref"] = -2.0
    ds = read_dataset(write_extxyz(tmp_path / "d.xyz", [a]), energy_key="energy_ref")
    assert ds.energies.tolist() == [-2.0]


def test_extxyz_weight_cell_pbc(tmp_path):
    a = dimer(3.0, -1.0, weight=2.5)
    a.cell = [10.0, 11.0, 12.0]
    a.pbc = [True, True, False]
    b = dimer(4.0, -0.5)
    ds = read_dataset(write_extxyz(tmp_path / "p.extxyz", [a, b]))
    assert ds.weights.tolist() == [2.5, 1.0]
    np.testing.assert_allclose(ds[0].cell, np.diag([10.0, 11.0, 12.0]))
    assert ds[0].pbc.tolist() == [True, True, False] and ds[0].periodic
    assert not ds[1].periodic


def test_single_frame_file_named_by_stem(tmp_path):
    ds = read_dataset(write_extxyz(tmp_path / "one.xyz", [dimer(3.0, -1.0)]))
    assert ds.names == ["one"]


@pytest.mark.parametrize(
    "index, names",
    [
        (":", ["d[0]", "d[1]", "d[2]", "d[3]"]),
        ("1:3", ["d[1]", "d[2]"]),
        ("-1", ["d[3]"]),
        (0, ["d[0]"]),
        (slice(None, None, 2), ["d[0]", "d[2]"]),
    ],
)
def test_index_selection_keeps_frame_numbers(tmp_path, index, names):
    f = write_extxyz(tmp_path / "d.extxyz", [dimer(3.0 + k, -0.1 * k) for k in range(4)])
    ds = read_dataset(f, index=index)
    assert ds.names == names
    np.testing.assert_allclose(ds.energies, [-0.1 * int(n[2]) for n in names])


def test_index_out_of_range(tmp_path):
    f = write_extxyz(tmp_path / "d.extxyz", [dimer(3.0, -1.0), dimer(4.0, -1.0)])
    with pytest.raises(DataError, match=r"d\.extxyz.*frame 5"):
        read_dataset(f, index="5")


def test_folder_rule_and_natural_order(tmp_path):
    for name in ["a10.xyz", "a2.extxyz", "a1.traj"]:
        ase.io.write(tmp_path / name, dimer(3.0, -1.0))
    (tmp_path / "README").write_text("not a structure")
    (tmp_path / "truth.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("2\nnot\nH 0 0 0\nH 0 0 1\n")
    (tmp_path / ".hidden.xyz").write_text("garbage")
    (tmp_path / "sub").mkdir()
    write_extxyz(tmp_path / "sub" / "z.xyz", [dimer(3.0, -1.0)])
    assert [f.name for f in structure_files(tmp_path)] == ["a1.traj", "a2.extxyz", "a10.xyz"]
    ds = read_dataset(tmp_path)
    assert ds.names == ["a1", "a2", "a10"]


def test_folder_clashing_stems_use_file_names(tmp_path):
    ase.io.write(tmp_path / "a.xyz", dimer(3.0, -1.0))
    ase.io.write(tmp_path / "a.traj", dimer(4.0, -2.0))
    ds = read_dataset(tmp_path)
    assert ds.names == ["a.traj", "a.xyz"]


def test_glob_pattern(tmp_path):
    for k in (1, 2, 10):
        ase.io.write(tmp_path / f"s{k}.xyz", dimer(3.0 + k, -0.1 * k))
    ase.io.write(tmp_path / "other.extxyz", dimer(3.0, -5.0))
    ds = read_dataset(str(tmp_path / "s*.xyz"))
    assert ds.names == ["s1", "s2", "s10"]
    np.testing.assert_allclose(ds.energies, [-0.1, -0.2, -1.0])


def test_folder_energies_csv_used_automatically(tmp_path):
    write_extxyz(tmp_path / "m.extxyz", [dimer(3.0, tags=True), dimer(4.0, tags=True)])
    ase.io.write(tmp_path / "single.xyz", dimer(5.0))
    (tmp_path / "energies.csv").write_text(
        "name,energy,comment\nm[1],-2.0,x\nm.extxyz[0],-1.0,y\nsingle.xyz,-3.0,z\n"
    )
    ds = read_dataset(tmp_path)
    assert ds.names == ["m[0]", "m[1]", "single"]
    np.testing.assert_allclose(ds.energies, [-1.0, -2.0, -3.0])


def test_explicit_energies_csv_in_kcal(tmp_path):
    f = write_extxyz(tmp_path / "m.extxyz", [dimer(3.0), dimer(4.0)])
    csv = tmp_path / "ref.csv"
    csv.write_text(" Name , Energy \nm[0],1.0\nm[1],2.0\n")
    ds = read_dataset(f, energies_csv=csv, energy_unit="kcal/mol")
    np.testing.assert_allclose(ds.energies, [KCAL_MOL_IN_EV, 2 * KCAL_MOL_IN_EV], rtol=1e-6)


def test_read_energies_csv(tmp_path):
    f = tmp_path / "e.csv"
    f.write_text("energy,name\n-1.5,a\n\n2e-3,b[0]\n")
    assert read_energies_csv(f) == {"a": -1.5, "b[0]": 0.002}


def test_prediction_without_energies(tmp_path):
    f = write_extxyz(tmp_path / "p.extxyz", [dimer(3.0), dimer(4.0)])
    ds = read_dataset(f, require_energies=False)
    assert np.isnan(ds.energies).all() and len(ds) == 2


def test_no_groups_is_total_energy(tmp_path):
    f = write_extxyz(tmp_path / "t.extxyz", [dimer(3.0, -1.0, tags=False)])
    ds = read_dataset(f)
    assert ds.group_mode == "all" and not ds.interaction and ds[0].groups is None


# -- groups ------------------------------------------------------------------------------------


def test_groups_auto_tags_and_all(tmp_path):
    f = write_extxyz(tmp_path / "d.extxyz", [dimer(3.0, -1.0), dimer(4.0, -0.5)])
    assert read_dataset(f).group_mode == "tags"
    assert read_dataset(f, groups="tags")[0].groups.tolist() == [0, 0, 0, 1]
    ds = read_dataset(f, groups="all")
    assert not ds.interaction and ds.group_mode == "all"


def test_groups_tags_any_nonzero_tag_is_group_b(tmp_path):
    a = dimer(3.0, -1.0)
    a.set_tags([0, 0, 0, 7])
    ds = read_dataset(write_extxyz(tmp_path / "d.extxyz", [a]))
    assert ds[0].groups.tolist() == [0, 0, 0, 1]


def test_groups_first_n(tmp_path):
    f = write_extxyz(tmp_path / "d.extxyz", [dimer(3.0, -1.0, tags=False)])
    assert read_dataset(f, groups="first:1")[0].groups.tolist() == [0, 1, 1, 1]
    ds = read_dataset(f, n_substrate=3)
    assert ds[0].groups.tolist() == [0, 0, 0, 1] and ds.group_mode == "first:3"


@pytest.mark.parametrize(
    "values, expected",
    [
        ([0, 0, 0, 1], [0, 0, 0, 1]),
        ([1, 1, 0, 0], [1, 1, 0, 0]),
        ([5, 5, 5, 9], [0, 0, 0, 1]),
        ([True, False, False, True], [1, 0, 0, 1]),
    ],
)
def test_groups_array(tmp_path, values, expected):
    a = dimer(3.0, -1.0, tags=False)
    a.new_array("part", np.array(values))
    f = write_extxyz(tmp_path / "d.extxyz", [a])
    ds = read_dataset(f, groups="array:part")
    assert ds[0].groups.tolist() == expected and ds.group_mode == "array:part"


def test_groups_array_errors():
    a = dimer(3.0, tags=False)
    with pytest.raises(DataError, match="no per-atom array 'part'"):
        groups_for_atoms(a, "array:part", source="x[0]")
    a.new_array("part", np.array([0, 1, 2, 1]))
    with pytest.raises(DataError, match="3 distinct values"):
        groups_for_atoms(a, "array:part")


S22_DIMERS = [
    "Water_dimer",
    "Ammonia_dimer",
    "Formic_acid_dimer",
    "Methane_dimer",
    "Benzene-methane_complex",
]


@pytest.mark.parametrize("name", S22_DIMERS)
def test_groups_fragments_split_s22_dimers(tmp_path, name):
    atoms = create_s22_system(name)
    n_a, n_b = get_number_of_dimer_atoms(name)
    atoms.info["energy_x"] = -0.1
    g = groups_for_atoms(atoms, "fragments")
    assert g.tolist() == [0] * n_a + [1] * n_b
    f = write_extxyz(tmp_path / f"{name}.xyz", [atoms])
    ds = read_dataset(f, groups="fragments", energy_key="energy_x")
    assert ds.group_mode == "fragments"
    assert np.bincount(ds[0].groups).tolist() == [n_a, n_b]


def test_groups_fragments_wrong_count(tmp_path):
    atoms = molecule("H2O")
    atoms.calc = SinglePointCalculator(atoms, energy=0.0)
    with pytest.raises(DataError, match=r"w\.xyz\[0\].*found 1") as err:
        read_dataset(write_extxyz(tmp_path / "w.xyz", [atoms]), groups="fragments")
    assert "two" in str(err.value)
    trimer = create_s22_system("Water_dimer") + Atoms("Ne", positions=[[20.0, 0, 0]])
    with pytest.raises(DataError, match="found 3"):
        groups_for_atoms(trimer, "fragments")


def test_empty_group_names_structure(tmp_path):
    a, b = dimer(3.0, -1.0), dimer(4.0, -1.0, tags=False)
    with pytest.raises(DataError, match=r"d\.extxyz\[1\].*group B is empty"):
        read_dataset(write_extxyz(tmp_path / "d.extxyz", [a, b]))
    with pytest.raises(DataError, match="group B is empty"):
        read_dataset(write_extxyz(tmp_path / "e.extxyz", [a]), groups="first:4")


def test_groups_for_atoms_and_assign_groups_agree():
    a = dimer(3.0)
    assert groups_for_atoms(a, "auto").tolist() == [0, 0, 0, 1]
    assert groups_for_atoms(a, "all") is None
    assert groups_for_atoms(dimer(3.0, tags=False), "auto") is None
    g = assign_groups(a.get_chemical_symbols(), a.positions, how="tags", tags=a.get_tags())
    assert g.tolist() == [0, 0, 0, 1]
    g = assign_groups(
        a.get_chemical_symbols(), a.positions, how="array:m", arrays={"m": [1, 1, 1, 0]}
    )
    assert g.tolist() == [1, 1, 1, 0]
    with pytest.raises(DataError, match="first:N"):
        groups_for_atoms(a, "seed")


@pytest.mark.parametrize("bad", ["first:0", "first:x", "array:", "tagz"])
def test_parse_groups_errors(bad):
    with pytest.raises(DataError, match="groups|group mode"):
        parse_groups(bad)


def test_find_duplicate_atoms():
    pos = np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0], [1, 0, 0.0005]])
    assert find_duplicate_atoms(pos)[:2] == (1, 3)
    assert find_duplicate_atoms(pos[:3]) is None
    # periodic images: wrapped into the cell first
    pos = np.array([[0.5, 0.5, 0.5], [10.5, 0.5, 0.5]])
    assert find_duplicate_atoms(pos, np.eye(3) * 10, [True, True, True])[:2] == (0, 1)
    assert find_duplicate_atoms(pos, np.eye(3) * 10, [False, False, False]) is None


# -- every malformed input ---------------------------------------------------------------------


def _replace_line(path: Path, lineno: int, text: str | None):
    lines = path.read_text().splitlines(keepends=True)
    if text is None:
        del lines[lineno - 1]
    else:
        lines[lineno - 1] = text
    path.write_text("".join(lines))


def _seed(tmp, edit=None):
    write_seed(tmp, [1, 2, 3])
    if edit:
        edit(tmp)
    return tmp, {}


def _ase(tmp, frames=None, name="d.extxyz", **kwargs):
    frames = frames if frames is not None else [dimer(3.0, -1.0), dimer(4.0, -0.5)]
    write_extxyz(tmp / name, frames)
    return tmp / name, kwargs


def _text(tmp, name, text, **kwargs):
    (tmp / name).write_text(text)
    return tmp / name, kwargs


def _binary(tmp, name):
    (tmp / name).write_bytes(bytes(range(256)) * 8)
    return tmp / name


def _csv(tmp, text):
    f, _ = _ase(tmp, [dimer(3.0), dimer(4.0)], name="m.extxyz")
    (tmp / "e.csv").write_text(text)
    return f, {"energies_csv": tmp / "e.csv"}


def _nan_energy_frame(tmp):
    return _text(
        tmp, "n.extxyz",
        '2\nenergy=nan Properties=species:S:1:pos:R:3\nH 0 0 0\nH 0 0 1\n',
    )


def _text_energy_frame(tmp):
    return _text(
        tmp, "t.extxyz",
        '2\nenergy=abc Properties=species:S:1:pos:R:3\nH 0 0 0\nH 0 0 1\n',
    )


MALFORMED = [
    # (builder(tmp) -> (path, kwargs), file name in message, word describing the problem)
    pytest.param(
        lambda t: _seed(t, lambda d: _replace_line(d / "p_2.xyz", 2, "energy\n")),
        "p_2.xyz:2", "missing energy", id="missing-energy-token",
    ),
    pytest.param(
        lambda t: _seed(t, lambda d: _replace_line(d / "p_2.xyz", 2, "energy -0.1x\n")),
        "p_2.xyz:2", "not a number", id="non-numeric-energy",
    ),
    pytest.param(
        lambda t: _seed(t, lambda d: _replace_line(d / "p_3.xyz", 2, "energy nan\n")),
        "p_3.xyz:2", "finite", id="nan-energy",
    ),
    pytest.param(
        lambda t: _seed(t, lambda d: _replace_line(d / "p_3.xyz", 2, "energy -inf\n")),
        "p_3.xyz:2", "finite", id="inf-energy",
    ),
    pytest.param(
        lambda t: _seed(t, lambda d: (d / "p_2_extended.xyz").unlink()),
        "p_2.xyz", "no partner p_2_extended.xyz", id="missing-extended-partner",
    ),
    pytest.param(
        lambda t: _seed(t, lambda d: (d / "p_3.xyz").unlink()),
        "p_3_extended.xyz", "no partner p_3.xyz", id="missing-substrate-partner",
    ),
    pytest.param(
        lambda t: _seed(t, lambda d: _replace_line(d / "p_2_extended.xyz", 4, "Ar 0.0 1.0\n")),
        "p_2_extended.xyz:4", "short line", id="truncated-extended-line",
    ),
    pytest.param(
        lambda t: _seed(t, lambda d: _replace_line(d / "p_1.xyz", 4, "H 0.76\n")),
        "p_1.xyz:4", "short line", id="truncated-substrate-line",
    ),
    pytest.param(
        lambda t: _seed(t, lambda d: _replace_line(d / "p_1_extended.xyz", 5, "Ar 0 zero 0\n")),
        "p_1_extended.xyz:5", "not three numbers", id="non-numeric-coordinate",
    ),
    pytest.param(
        lambda t: _seed(t, lambda d: _replace_line(d / "p_2.xyz", 1, "4\n")),
        "p_2.xyz:1", "count mismatch", id="atom-count-mismatch",
    ),
    pytest.param(
        lambda t: _seed(t, lambda d: _replace_line(d / "p_2.xyz", 1, "three\n")),
        "p_2.xyz:1", "atom count", id="bad-count-line",
    ),
    pytest.param(
        lambda t: _seed(
            t,
            lambda d: (d / "p_1_extended.xyz").write_text(
                "".join((d / "p_1_extended.xyz").read_text().splitlines(True)[:3])
            ),
        ),
        "p_1_extended.xyz", "no surface atoms", id="extended-without-surface",
    ),
    pytest.param(
        lambda t: _seed(t, lambda d: _replace_line(d / "p_3_extended.xyz", 5, "Qq 3.8 0 0\n")),
        "p_3_extended.xyz:5", "unknown element", id="unknown-element",
    ),
    pytest.param(
        lambda t: _seed(t, lambda d: _replace_line(d / "p_3_extended.xyz", 5, "AR 3.8 0 0\n")),
        "p_3_extended.xyz:5", "'Ar'", id="element-wrong-case",
    ),
    pytest.param(
        lambda t: _seed(t, lambda d: _replace_line(d / "p_2_extended.xyz", 2, "H 0.8 0.0 3.8\n")),
        "p_2.xyz:4", "substrate atom 2", id="substrate-position-mismatch",
    ),
    pytest.param(
        lambda t: _seed(t, lambda d: _replace_line(d / "p_2_extended.xyz", 1, "N 0.0 0.0 3.2\n")),
        "p_2_extended.xyz:1", "substrate atom 1", id="substrate-symbol-mismatch",
    ),
    pytest.param(
        lambda t: _seed(t, lambda d: _binary(d, "p_2.xyz")),
        "p_2.xyz", "not a text file", id="seed-binary-garbage",
    ),
    pytest.param(
        lambda t: _seed(t, lambda d: (d / "p_2.xyz").write_text("")),
        "p_2.xyz", "empty file", id="seed-empty-file",
    ),
    pytest.param(
        lambda t: (_binary(t, "junk.xyz"), {}),
        "junk.xyz", "binary", id="ase-binary-garbage",
    ),
    pytest.param(
        lambda t: _text(t, "bad.xyz", "2\nenergy=1\nH 0 0 0\nnot an atom line at all\n"),
        "bad.xyz", "cannot read", id="ase-unparsable",
    ),
    pytest.param(
        lambda t: _text(t, "second.xyz", "1\nenergy=1\nH 0 0 0\n3\nenergy=2\nH 0 0 0\n"),
        "second.xyz", "frame 1", id="ase-unparsable-second-frame",
    ),
    pytest.param(
        lambda t: _text(t, "elem.xyz", "2\nenergy=1\nH 0 0 0\nQq 0 0 1\n"),
        "elem.xyz", "unknown element", id="ase-unknown-element",
    ),
    pytest.param(
        lambda t: _text(t, "empty.xyz", ""), "empty.xyz", "empty", id="ase-empty-file",
    ),
    pytest.param(
        lambda t: _ase(t, [dimer(3.0), dimer(4.0)], name="noe.extxyz"),
        "noe.extxyz", "--energy-key", id="no-energies",
    ),
    pytest.param(
        lambda t: _ase(t, [dimer(3.0, -1.0), dimer(4.0)], name="half.extxyz"),
        "half.extxyz[1]", "no energy", id="some-energies-missing",
    ),
    pytest.param(
        lambda t: _ase(t, [dimer(3.0, -1.0)], name="k.extxyz", energy_key="dft"),
        "k.extxyz", "energies CSV", id="wrong-energy-key",
    ),
    pytest.param(_nan_energy_frame, "n.extxyz[0]", "finite", id="ase-nan-energy"),
    pytest.param(_text_energy_frame, "t.extxyz[0]", "not a number", id="ase-text-energy"),
    pytest.param(
        lambda t: _text(t, "p_1.xyz", "2\nenergy -0.5\nH 0 0 0\nH 0 0 1\n", layout="ase"),
        "p_1.xyz[0]", "p_N_extended.xyz", id="seed-file-read-as-ase",
    ),
    pytest.param(
        lambda t: (t / "nothing-here", {}), "nothing-here", "no such file", id="missing-path",
    ),
    pytest.param(lambda t: (t, {}), None, "no structure files", id="empty-folder"),
    pytest.param(
        lambda t: (_text(t, "README", "hello")[0].parent, {}),
        "README", "no structure files", id="folder-without-structures",
    ),
    pytest.param(
        lambda t: (str(t / "*.extxyz"), {}), "*.extxyz", "matches no file", id="glob-no-match",
    ),
    pytest.param(
        lambda t: _csv(t, "name,energy\nm[0],-1.0\n"),
        "e.csv", "'m[1]'", id="csv-missing-name",
    ),
    pytest.param(
        lambda t: _csv(t, "structure,E\nm[0],-1.0\n"), "e.csv:1", "columns", id="csv-bad-columns",
    ),
    pytest.param(
        lambda t: _csv(t, "name,energy\nm[0],-1.0\nm[1],lots\n"),
        "e.csv:3", "not a number", id="csv-non-numeric",
    ),
    pytest.param(
        lambda t: _csv(t, "name,energy\nm[0],-1.0\nm[0],-2.0\n"),
        "e.csv:3", "twice", id="csv-duplicate-name",
    ),
    pytest.param(
        lambda t: (_ase(t)[0], {"energies_csv": t / "none.csv"}),
        "none.csv", "not found", id="csv-missing-file",
    ),
    pytest.param(
        lambda t: (_ase(t)[0], {"energies_csv": _binary(t, "b.csv")}),
        "b.csv", "not a text file", id="csv-binary",
    ),
    pytest.param(
        lambda t: (_ase(t)[0], {"energy_unit": "kcal/mole/s"}),
        "kcal/mole/s", "unknown energy unit", id="unknown-unit",
    ),
    pytest.param(
        lambda t: (_ase(t)[0], {"layout": "seed"}),
        "d.extxyz", "needs a folder", id="seed-not-folder",
    ),
]


@pytest.mark.parametrize("build, where, word", MALFORMED)
def test_malformed_input_raises_data_error(tmp_path, build, where, word):
    path, kwargs = build(tmp_path)
    with pytest.raises(DataError) as err:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            read_dataset(path, **kwargs)
    msg = str(err.value)
    assert isinstance(err.value, ValueError)
    if where is None:  # empty folder: the folder itself is named
        where = str(tmp_path)
    assert where in msg, msg
    assert word in msg, msg
    assert "\n" not in msg


def _h2_on_itself(energy):
    atoms = Atoms("H2", positions=np.zeros((2, 3)), tags=[0, 1])
    atoms.calc = SinglePointCalculator(atoms, energy=energy)
    return atoms


DUPLICATES = [
    pytest.param(
        lambda t: _seed(
            t, lambda d: _replace_line(d / "p_2_extended.xyz", 5, "Ar 0.0 0.0 0.0005\n")
        ),
        "p_2_extended.xyz", "atoms 4 and 5 (lines 4 and 5) are at the same position",
        id="seed-duplicate-in-group-B",
    ),
    pytest.param(
        lambda t: _ase(t, [dimer(3.0, -1.0), _h2_on_itself(-2.0)], name="dup.extxyz"),
        "dup.extxyz[1]", "atoms 1 and 2 are at the same position", id="ase-duplicate-atoms",
    ),
]


@pytest.mark.parametrize("build, where, words", DUPLICATES)
def test_duplicate_atoms_found_by_the_featuriser(tmp_path, build, where, words):
    """Reading accepts the structures; the featuriser finds the duplicate in the distances
    it computes anyway, and names the file, frame or lines."""
    from ljfit import LJModel

    path, kwargs = build(tmp_path)
    ds = read_dataset(path, **kwargs)
    with pytest.raises(DataError) as err:
        LJModel(ds)
    msg = str(err.value)
    assert where in msg and words in msg, msg


def test_malformed_seed_error_names_both_files(tmp_path):
    write_seed(tmp_path, [1])
    _replace_line(tmp_path / "p_1_extended.xyz", 3, "H -0.76 0.0 3.9\n")
    with pytest.raises(DataError) as err:
        read_dataset(tmp_path)
    msg = str(err.value)
    assert "p_1_extended.xyz:3" in msg and "p_1.xyz:5" in msg


def test_data_error_is_not_a_bare_ase_exception(tmp_path):
    f = _binary(tmp_path, "g.traj")
    with pytest.raises(DataError, match="g.traj") as err:
        read_dataset(f)
    assert err.value.__cause__ is not None  # ASE's exception kept as the cause


# -- the shipped example data ------------------------------------------------------------------


def _comment_energies(folder: Path, n: int) -> np.ndarray:
    comments = [(folder / f"p_{k}.xyz").read_text().splitlines()[1] for k in range(1, n + 1)]
    return np.array([float(c.split()[1]) for c in comments])


def _lj(structure, parameters) -> float:
    """Independent oracle: per-pair LJ between group A and group B."""
    a = structure.groups == 0
    sym = np.array(structure.symbols)
    r = np.linalg.norm(structure.positions[a][:, None] - structure.positions[~a][None], axis=-1)
    keys = np.array([["-".join(sorted((x, y))) for y in sym[~a]] for x in sym[a]])
    eps = np.vectorize(lambda k: parameters[f"epsilon[{k}]"])(keys)
    sig = np.vectorize(lambda k: parameters[f"sigma[{k}]"])(keys)
    s6 = (sig / r) ** 6
    return float(np.sum(4 * eps * (s6 * s6 - s6)))


def test_example_dataset():
    folder = DATA / "example"
    ds = read_dataset(folder)
    assert len(ds) == 40 and ds.layout == "seed"
    assert ds.names == [f"p_{k}" for k in range(1, 41)]
    assert all(int(np.sum(s.groups == 0)) == 9 for s in ds)
    assert all(s.group_symbols(1) == ("Au",) * 48 for s in ds)
    assert ds.group_elements(0) == ["C", "H", "O"]
    np.testing.assert_array_equal(ds.energies, _comment_energies(folder, 40))
    assert ds.energies.min() > -0.6 and ds.energies.max() < 0.5


def test_example_energies_match_truth():
    folder = DATA / "example"
    truth = json.loads((folder / "truth.json").read_text())
    assert truth["scope"] == "per-pair" and truth["potential"] == "lj"
    assert sorted(truth["parameters"]) == [
        f"{kind}[Au-{x}]" for kind in ("epsilon", "sigma") for x in "CHO"
    ]
    ds = read_dataset(folder)
    clean = np.array([truth["energies_noise_free"][n] for n in ds.names])
    noise = ds.energies - clean
    assert np.abs(noise).max() < 5e-3
    assert 0.3e-3 < noise.std() < 3e-3  # the 1 meV noise is there
    oracle = np.array([_lj(s, truth["parameters"]) for s in ds])
    np.testing.assert_allclose(oracle, clean, atol=1e-9)
    # both the repulsive wall and the attractive tail are sampled
    closest = [
        np.linalg.norm(
            s.positions[s.groups == 0][:, None] - s.positions[s.groups == 1][None], axis=-1
        ).min()
        for s in ds
    ]
    assert min(closest) < 2.5 and max(closest) > 4.8


def test_example_tags_dataset():
    folder = DATA / "example_tags"
    truth = json.loads((folder / "truth.json").read_text())
    ds = read_dataset(folder)
    assert len(ds) == 12 and ds.group_mode == "tags"
    assert [int(np.sum(s.groups == 0)) for s in ds] == [5] * 12
    assert ds.group_elements(1) == ["Ar"]
    clean = np.array([truth["energies_noise_free"][n] for n in ds.names])
    np.testing.assert_allclose(ds.energies, clean, atol=1e-11)
    oracle = np.array([_lj(s, truth["parameters"]) for s in ds])
    np.testing.assert_allclose(oracle, clean, atol=1e-9)


def test_example_data_script_is_deterministic(tmp_path):
    script = ROOT / "scripts" / "make_example_data.py"
    spec = importlib.util.spec_from_file_location("make_example_data", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--out", str(tmp_path)])
    for sub in ("example", "example_tags"):
        made = sorted(p.name for p in (tmp_path / sub).iterdir())
        shipped = sorted(p.name for p in (DATA / sub).iterdir())
        assert made == shipped
        for name in made:
            assert (tmp_path / sub / name).read_bytes() == (DATA / sub / name).read_bytes(), name


# -- more rules and argument checks ------------------------------------------------------------


def test_seed_same_number_twice(tmp_path):
    write_seed(tmp_path, [1, 2])
    (tmp_path / "p_01.xyz").write_text((tmp_path / "p_1.xyz").read_text())
    with pytest.raises(DataError, match="p_01.xyz.*same number 1|p_1.xyz.*same number 1"):
        read_dataset(tmp_path)


def test_layout_auto_is_ase_without_extended_files(tmp_path):
    write_extxyz(tmp_path / "d.extxyz", [dimer(3.0, -1.0)])
    assert read_dataset(tmp_path).layout == "ase"
    with pytest.raises(DataError, match="no p_N.xyz"):
        read_dataset(tmp_path, layout="seed")


@pytest.mark.parametrize(
    "kwargs, word",
    [
        pytest.param({"layout": "pdb"}, "unknown layout", id="layout"),
        pytest.param({"n_substrate": 0}, "positive integer", id="n-substrate-zero"),
        pytest.param({"n_substrate": 2.5}, "positive integer", id="n-substrate-float"),
        pytest.param(
            {"n_substrate": 2, "groups": "first:3"}, "contradicts", id="n-substrate-vs-first"
        ),
        pytest.param({"index": "-1"}, "index", id="seed-index"),
        pytest.param({"groups": "halves"}, "unknown group mode", id="groups"),
    ],
)
def test_seed_argument_errors(tmp_path, kwargs, word):
    write_seed(tmp_path, [1, 2])
    with pytest.raises(DataError, match=word):
        read_dataset(tmp_path, **kwargs)


def test_ase_argument_errors(tmp_path):
    f = write_extxyz(tmp_path / "d.extxyz", [dimer(3.0, -1.0)])
    with pytest.raises(DataError, match="contradicts"):
        read_dataset(f, n_substrate=2, groups="tags")
    with pytest.raises(DataError, match="bad frame selection"):
        read_dataset(f, index="1:x")
    with pytest.raises(DataError, match=r"d\.extxyz\[0\].*weight"):
        read_dataset(write_extxyz(tmp_path / "d.extxyz", [dimer(3.0, -1.0, weight="heavy")]))


def test_glob_across_folders_keeps_names_unique(tmp_path):
    for sub in ("run1", "run2"):
        write_extxyz(tmp_path / sub / "frames.extxyz", [dimer(3.0, -1.0), dimer(4.0, -2.0)])
    ds = read_dataset(str(tmp_path / "run*" / "frames.extxyz"))
    assert ds.names == [
        "run1/frames.extxyz[0]", "run1/frames.extxyz[1]",
        "run2/frames.extxyz[0]", "run2/frames.extxyz[1]",
    ]
    assert ds[2].source.endswith("run2/frames.extxyz[0]")


def test_compressed_file_in_folder(tmp_path):
    import gzip

    text = write_extxyz(tmp_path / "plain.extxyz", [dimer(3.0, -1.0)]).read_text()
    (tmp_path / "plain.extxyz").unlink()
    with gzip.open(tmp_path / "z.extxyz.gz", "wt") as fh:
        fh.write(text)
    ds = read_dataset(tmp_path)
    assert ds.names == ["z"] and ds.energies.tolist() == [-1.0]


def test_csv_missing_names_allowed_for_prediction(tmp_path):
    f = write_extxyz(tmp_path / "m.extxyz", [dimer(3.0), dimer(4.0)])
    (tmp_path / "e.csv").write_text("name,energy\nm[1],-2.0\n")
    ds = read_dataset(f, energies_csv=tmp_path / "e.csv", require_energies=False)
    assert math.isnan(ds.energies[0]) and ds.energies[1] == -2.0
