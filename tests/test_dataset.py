"""Tests of ljfit.dataset: Structure validation and immutability, Dataset behaviour."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ljfit import DataError, Dataset, Structure
from ljfit.dataset import GROUP_A, GROUP_B


def make_structure(name="s", energy=-1.0, groups=(0, 0, 1), **kw) -> Structure:
    return Structure(
        name=name,
        symbols=["O", "H", "Ar"],
        positions=[[0.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 4.0]],
        energy=energy,
        groups=groups,
        **kw,
    )


def make_dataset(n=3, interaction=True) -> Dataset:
    groups = (0, 0, 1) if interaction else None
    return Dataset(
        [make_structure(f"s{k}", energy=-0.1 * k, groups=groups) for k in range(n)],
        path="some/folder",
        layout="ase",
        energy_unit="kcal/mol",
        group_mode="tags" if interaction else "all",
    )


# -- Structure ---------------------------------------------------------------------------------


def test_structure_arrays_are_read_only():
    s = make_structure()
    for array in (s.positions, s.groups, s.cell, s.pbc):
        assert not array.flags.writeable
        with pytest.raises(ValueError):
            array[0] = 1
    with pytest.raises(AttributeError):
        s.energy = 0.0  # frozen dataclass


def test_structure_does_not_alias_callers_arrays():
    pos = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    groups = np.array([0, 1])
    cell = np.eye(3) * 5.0
    s = Structure("s", ["H", "H"], pos, energy=-1.0, groups=groups, cell=cell, pbc=True)
    pos[0, 0] = 9.0
    groups[0] = 1
    cell[0, 0] = 1.0
    assert s.positions[0, 0] == 0.0
    assert s.groups.tolist() == [0, 1]
    assert s.cell[0, 0] == 5.0
    assert pos.flags.writeable  # the caller's array is untouched


def test_structure_normalises_types():
    s = make_structure(energy=np.float32(-1.5), weight=2)
    assert isinstance(s.energy, float) and isinstance(s.weight, float)
    assert s.symbols == ("O", "H", "Ar")
    assert s.groups.dtype == np.int8
    assert s.pbc.tolist() == [False, False, False] and s.cell.shape == (3, 3)
    assert s.n_atoms == 3 and not s.periodic and s.interaction


def test_structure_group_symbols_and_copies():
    s = make_structure()
    assert s.group_symbols(GROUP_A) == ("O", "H")
    assert s.group_symbols(GROUP_B) == ("Ar",)
    t = make_structure(groups=None)
    assert not t.interaction and t.group_symbols(GROUP_A) == ("O", "H", "Ar")
    e = s.with_energy(-2.0)
    assert e.energy == -2.0 and s.energy == -1.0
    np.testing.assert_array_equal(e.positions, s.positions)
    assert not e.positions.flags.writeable
    assert s.with_weight(3.0).weight == 3.0


def test_structure_nan_energy_allowed():
    assert math.isnan(make_structure(energy=float("nan")).energy)


@pytest.mark.parametrize(
    "kwargs, word",
    [
        pytest.param({"positions": [[0, 0, 0], [0, 0, 1]]}, "shape", id="positions-too-few"),
        pytest.param({"positions": [[0, 0], [0, 1], [0, 2]]}, "shape", id="positions-2d"),
        pytest.param({"positions": np.zeros(9)}, "shape", id="positions-flat"),
        pytest.param(
            {"positions": [[0, 0, 0], [0, 0, np.nan], [0, 0, 2]]}, "NaN", id="positions-nan"
        ),
        pytest.param({"groups": (0, 1)}, "group ids have shape", id="groups-shape"),
        pytest.param({"groups": (0, 1, 2)}, "0 (group A) or 1", id="groups-values"),
        pytest.param({"energy": float("inf")}, "inf", id="energy-inf"),
        pytest.param({"weight": -1.0}, "weight", id="weight-negative"),
        pytest.param({"weight": float("nan")}, "weight", id="weight-nan"),
        pytest.param({"pbc": True}, "singular cell", id="pbc-without-cell"),
    ],
)
def test_structure_errors(kwargs, word):
    base = dict(
        name="bad",
        symbols=["O", "H", "Ar"],
        positions=[[0.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 4.0]],
        energy=-1.0,
        groups=(0, 0, 1),
        source="file.xyz[3]",
    )
    base.update(kwargs)
    with pytest.raises(DataError, match="file.xyz\\[3\\]") as err:
        Structure(**base)
    assert word in str(err.value)
    assert isinstance(err.value, ValueError)


# -- Structure.batch ---------------------------------------------------------------------------


def _batch_kwargs(rng, n=6):
    """Constructor arguments of n varied structures: clusters and cells (pbc as a scalar,
    a list, a bool array), groups or none, forces, Voigt and 3x3 stresses, weights, lines."""
    out = []
    for k in range(n):
        na = 2 + k % 3
        kw = dict(name=f"s{k}", symbols=["Ar"] * (na - 1) + [np.str_("Kr")],
                  positions=rng.normal(size=(na, 3)) * 3, energy=np.float32(-0.5 * k),
                  source=f"f.xyz[{k}]" if k % 2 else "")
        if k % 3:
            kw["cell"] = np.diag([9.0, 10.0, 11.0]) + rng.normal(size=(3, 3)) * 0.1
            kw["pbc"] = [True, True, True] if k % 3 == 1 else np.ones(3, bool)
            s = rng.normal(size=(3, 3))
            kw["stress"] = (s + s.T).ravel() if k == 2 else rng.normal(size=6)
        elif k:
            kw["pbc"] = False
        if k % 2:
            kw["groups"] = [0] * (na - 1) + [1]
            kw["weight"] = 2
            kw["first_line"] = np.int64(3)
        if k != 3:
            kw["forces"] = rng.normal(size=(na, 3)).tolist()
        out.append(kw)
    return out


def _batch_of(kws):
    keys = {"name": "names", "symbols": "symbols", "positions": "positions",
            "energy": "energies", "groups": "groups", "cell": "cells", "pbc": "pbcs",
            "weight": "weights", "source": "sources", "forces": "forces",
            "stress": "stresses", "first_line": "first_lines"}
    defaults = {"groups": None, "cell": None, "pbc": None, "weight": 1.0, "source": "",
                "forces": None, "stress": None, "first_line": 0}
    args = {plural: [kw.get(key, defaults.get(key)) for kw in kws]
            for key, plural in keys.items()}
    positional = [args.pop(k) for k in ("names", "symbols", "positions", "energies")]
    return Structure.batch(*positional, **args)


def test_batch_builds_what_the_constructor_builds(monkeypatch):
    kws = _batch_kwargs(np.random.default_rng(3))
    one_by_one = [Structure(**kw) for kw in kws]
    calls = []
    real = Structure.__post_init__
    monkeypatch.setattr(Structure, "__post_init__",
                        lambda self: (calls.append(1), real(self))[1])
    batch = _batch_of(kws)
    assert not calls, "valid structures took the one-by-one path"
    for a, b in zip(batch, one_by_one):
        for f in ("name", "symbols", "energy", "weight", "source", "first_line", "periodic"):
            assert getattr(a, f) == getattr(b, f) and type(getattr(a, f)) is type(
                getattr(b, f)), f
        assert all(type(x) is str for x in a.symbols)
        for f in ("positions", "cell", "pbc", "groups", "forces", "stress"):
            u, v = getattr(a, f), getattr(b, f)
            assert (u is None) == (v is None), f
            if u is not None:
                assert u.dtype == v.dtype and u.shape == v.shape, f
                np.testing.assert_array_equal(u, v)
                assert not u.flags.writeable, f
                with pytest.raises(ValueError):
                    u[...] = 0


def test_batch_does_not_alias_callers_arrays():
    kws = _batch_kwargs(np.random.default_rng(4), 3)
    batch = _batch_of(kws)
    for kw, st in zip(kws, batch):
        kw["positions"][0, 0] = 99.0
        if "cell" in kw:
            kw["cell"][0, 0] = 99.0
    assert all(st.positions[0, 0] != 99.0 for st in batch)
    assert all(st.cell[0, 0] != 99.0 for st in batch)


_BAD = [
    {"positions": [[0, 0, 0], [0, 0, 1]]},
    {"positions": np.zeros(9)},
    {"positions": [[0, 0, 0], [0, 0, np.nan], [0, 0, 2]]},
    {"positions": [["a", 0, 0], [0, 0, 1], [0, 0, 2]]},
    {"groups": (0, 1)},
    {"groups": (0, 1, 2)},
    {"energy": float("inf")},
    {"energy": "x"},
    {"weight": -1.0},
    {"weight": float("nan")},
    {"pbc": True},
    {"pbc": [True, False]},
    {"cell": np.eye(2)},
    {"forces": np.zeros((2, 3))},
    {"forces": [[0, 0, np.inf]] * 3},
    {"forces": [["x", 0, 0]] * 3},
    {"stress": np.zeros(5)},
    {"stress": [1, 2, 3, 4, 5, np.nan]},
    {"stress": [[1, 2, 0], [0, 1, 0], [0, 0, 1]]},
    {"stress": np.zeros(6)},  # a cluster: a stress needs a periodic cell
    {"stress": np.zeros(6), "cell": np.eye(3) * 9, "pbc": [True, True, False]},
]


@pytest.mark.parametrize("bad", _BAD, ids=[",".join(b) + str(k) for k, b in enumerate(_BAD)])
def test_batch_raises_the_constructors_error_for_the_first_bad_structure(bad):
    """A bad structure among good ones (and a later bad one): the batch raises exactly what
    the constructor raises for the first bad one, naming its source."""
    base = dict(symbols=["O", "H", "Ar"], energy=-1.0, groups=(0, 0, 1),
                positions=[[0.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 4.0]])
    kws = [dict(base, name=f"s{k}", source=f"file.xyz[{k}]") for k in range(5)]
    kws[2].update(bad)
    kws[4].update(energy=float("inf"))
    with pytest.raises(Exception) as expected:
        Structure(**kws[2])
    with pytest.raises(type(expected.value)) as got:
        _batch_of(kws)
    assert str(got.value) == str(expected.value)
    if isinstance(expected.value, DataError):
        assert "file.xyz[2]" in str(got.value)


def test_batch_of_nothing_and_mismatched_lengths():
    assert Structure.batch([], [], [], []) == []
    with pytest.raises(ValueError, match="one entry per structure"):
        Structure.batch(["a"], [["H"]], [[[0, 0, 0]]], [1.0], weights=[1.0, 2.0])


# -- Dataset -----------------------------------------------------------------------------------


def test_dataset_sequence_and_arrays():
    ds = make_dataset(3)
    assert len(ds) == 3 and ds[1].name == "s1" and ds[-1].name == "s2"
    assert [s.name for s in ds] == ds.names == ["s0", "s1", "s2"]
    np.testing.assert_allclose(ds.energies, [0.0, -0.1, -0.2])
    assert ds.weights.tolist() == [1.0, 1.0, 1.0]
    assert ds.structures == tuple(ds)
    assert ds.elements == ["Ar", "H", "O"]
    assert ds.group_elements(GROUP_A) == ["H", "O"] and ds.group_elements(GROUP_B) == ["Ar"]
    assert ds.interaction and ds.has_energies
    assert ds.name == "folder" and "folder" in repr(ds)


def test_dataset_energies_array_is_a_copy():
    ds = make_dataset(2)
    e = ds.energies
    e[0] = 100.0
    assert ds.energies[0] == 0.0


def test_dataset_is_immutable_collection():
    ds = make_dataset(2)
    with pytest.raises(TypeError):
        ds[0] = make_structure("x")  # type: ignore[index]
    assert isinstance(ds.structures, tuple)


def test_dataset_subset_with_repeats_renames():
    ds = make_dataset(3)
    sub = ds.subset([2, 0, 2, 2])
    assert sub.names == ["s2", "s0", "s2#1", "s2#2"]
    np.testing.assert_allclose(sub.energies, [-0.2, 0.0, -0.2, -0.2])
    np.testing.assert_array_equal(sub[2].positions, ds[2].positions)  # same data, new name
    assert (sub.path, sub.layout, sub.energy_unit, sub.group_mode) == (
        ds.path, ds.layout, ds.energy_unit, ds.group_mode,
    )
    assert ds.names == ["s0", "s1", "s2"]  # the original is unchanged


def test_dataset_slice_is_a_dataset():
    ds = make_dataset(4)
    sl = ds[1:3]
    assert isinstance(sl, Dataset) and sl.names == ["s1", "s2"]


def test_dataset_with_weights():
    ds = make_dataset(3)
    w = ds.with_weights([1.0, 2.0, 0.5])
    assert w.weights.tolist() == [1.0, 2.0, 0.5] and ds.weights.tolist() == [1.0] * 3
    assert ds.with_weights(3.0).weights.tolist() == [3.0] * 3
    with pytest.raises(DataError, match="weight"):
        ds.with_weights([1.0, -1.0, 1.0])


def test_dataset_has_energies_false_with_nan():
    ds = Dataset([make_structure("a"), make_structure("b", energy=float("nan"))])
    assert not ds.has_energies
    s = ds.summary()
    assert s["n_energies"] == 1 and s["energy_min_eV"] == -1.0


SUMMARY_KEYS = {
    "path", "name", "layout", "n_structures", "n_atoms_min", "n_atoms_max", "elements",
    "energy", "group_mode", "periodic", "energy_unit_read", "n_energies", "energy_min_eV",
    "energy_max_eV", "energy_mean_eV", "n_with_forces", "n_force_components", "n_with_stress",
}  # fmt: skip


def test_summary_keys_interaction():
    s = make_dataset(3).summary()
    assert SUMMARY_KEYS | {"elements_group_A", "elements_group_B", "n_atoms_group_A"} == set(s)
    assert s["n_structures"] == 3 and s["energy"] == "interaction"
    assert s["energy_unit_read"] == "kcal/mol" and s["n_atoms_group_A"] == [2]
    assert s["energy_min_eV"] == pytest.approx(-0.2) and s["energy_max_eV"] == 0.0
    assert s["elements_group_A"] == ["H", "O"] and s["elements_group_B"] == ["Ar"]
    assert all(isinstance(v, (str, int, float, list, type(None))) for v in s.values())
    text = make_dataset(3).describe()
    assert "interaction" in text and "group A" in text and "kcal/mol" in text


def test_summary_keys_total():
    ds = make_dataset(2, interaction=False)
    s = ds.summary()
    assert set(s) == SUMMARY_KEYS and s["energy"] == "total"
    assert "total" in ds.describe()


def test_summary_without_energies():
    ds = Dataset([make_structure("a", energy=float("nan"))])
    s = ds.summary()
    assert s["n_energies"] == 0 and s["energy_min_eV"] is None
    assert "energies     none" in ds.describe()


def test_dataset_rejects_mixed_interaction_and_total():
    with pytest.raises(DataError, match="some structures have two groups"):
        Dataset([make_structure("a"), make_structure("b", groups=None)], path="mixed")


def test_dataset_rejects_duplicate_names():
    with pytest.raises(DataError, match="duplicate structure names: a"):
        Dataset([make_structure("a"), make_structure("a")])


def test_dataset_rejects_empty():
    with pytest.raises(DataError, match="no structures"):
        Dataset([], path="empty/folder")


def test_describe_says_which_group_is_which():
    """The seed layout's 'substrate' is group A (here the 9-atom ethanol: the adsorbate in
    surface-science words), its 'surface' group B (48 Au atoms): info and the report say so."""
    from pathlib import Path

    import ljfit

    ds = ljfit.read_dataset(Path(__file__).resolve().parents[1] / "data" / "example")
    text = ds.describe()
    assert "A = the layout's 'substrate' (p_N.xyz): 9 atoms (C, H, O)" in text
    assert "B = the layout's 'surface' (the rest of p_N_extended.xyz): 48 atoms (Au)" in text
    assert "adsorbate" in text
