"""Pair features against a plain double loop over pairs (and periodic images)."""

import numpy as np
import pytest
from ase.build import bulk
from ase.neighborlist import neighbor_list
from conftest import make_adsorbate_dataset, make_fcc_argon_dataset, pair_label, reference_pairs

from ljfit.dataset import Dataset, Structure
from ljfit.errors import DataError, FitError
from ljfit.features import compute_features, pair_list
from ljfit.potentials import LJ, Mie


@pytest.fixture(scope="module")
def mixed_dataset(adsorbate_dataset, slab_dataset):
    """Clusters and periodic slabs, with different atom counts, in one dataset."""
    return Dataset(list(adsorbate_dataset)[:4] + list(slab_dataset))


@pytest.fixture(scope="module")
def molecules_dataset():
    """Non-periodic, three different molecules (6, 3 and 3 atoms) over the same Au patch."""
    return make_adsorbate_dataset(6, np.random.default_rng(20), molecule="CH3OH|H2O|CO2",
                                  name="mol")


@pytest.fixture(scope="module")
def small_cells():
    """4-atom fcc Ar cells (a ≈ 5.26 Å < cutoff): atoms meet their own images."""
    return make_fcc_argon_dataset(3, np.random.default_rng(21), repeat=1, cutoff=7.0)


def reference_features(dataset, kind, potential, cutoff, shift):
    """Slot labels and the (unshifted and shifted) per-slot sums, by the oracle."""
    n, m = potential.n, potential.m
    rows = []
    for s in dataset:
        i, j, _, r, w = reference_pairs(s, cutoff)
        row = {}
        for a, b, rr, ww in zip(i, j, r, w):
            acc = row.setdefault(pair_label(s, a, b, kind), np.zeros(5))
            acc += ww * np.array([rr**-n, rr**-m, 1.0,
                                  rr**-n - (cutoff**-n if shift else 0.0),
                                  rr**-m - (cutoff**-m if shift else 0.0)])
        rows.append(row)
    labels = sorted({k for row in rows for k in row},
                    key=(lambda k: int(k)) if kind == "site" else (lambda k: k.split("-")))
    out = np.zeros((5, len(dataset), len(labels)))
    for si, row in enumerate(rows):
        for k, lab in enumerate(labels):
            if lab in row:
                out[:, si, k] = row[lab]
    return labels, out


CASES = [
    # dataset fixture, kind, cutoff, shift
    pytest.param("adsorbate_dataset", "pair", None, False, id="ads-pair-nocut"),
    pytest.param("adsorbate_dataset", "site", None, False, id="ads-site-nocut"),
    pytest.param("adsorbate_dataset", "pair", 6.0, False, id="ads-pair-cut6"),
    pytest.param("adsorbate_dataset", "site", 6.0, True, id="ads-site-cut6-shift"),
    pytest.param("molecules_dataset", "pair", 7.0, True, id="molecules-pair-cut7-shift"),
    pytest.param("molecules_dataset", "site", None, False, id="molecules-site-nocut"),
    pytest.param("slab_dataset", "pair", 7.0, False, id="slab-pair-cut7"),
    pytest.param("slab_dataset", "site", 5.0, True, id="slab-site-cut5-shift"),
    pytest.param("cluster_dataset", "pair", None, False, id="ArKr-pair-nocut"),
    pytest.param("cluster_dataset", "pair", 6.0, False, id="ArKr-pair-cut6"),
    pytest.param("cluster_dataset", "pair", 6.0, True, id="ArKr-pair-cut6-shift"),
    pytest.param("fcc_dataset", "pair", 8.5, False, id="fcc-pair-cut8.5"),
    pytest.param("fcc_dataset", "pair", 6.0, True, id="fcc-pair-cut6-shift"),
    pytest.param("small_cells", "pair", 7.0, False, id="fcc4-pair-cut7"),
    pytest.param("small_cells", "pair", 11.0, True, id="fcc4-pair-cut11-shift"),
    pytest.param("mixed_dataset", "pair", 7.0, False, id="mixed-pair-cut7"),
    pytest.param("mixed_dataset", "site", 7.0, True, id="mixed-site-cut7-shift"),
]


#: datasets holding periodic cells: they are featurised twice, once per path
PERIODIC = {"slab_dataset", "fcc_dataset", "small_cells", "mixed_dataset"}
PATH_CASES = [
    pytest.param(*case.values, path, id=f"{case.id}-{label}", marks=case.marks)
    for case in CASES
    for path, label in ((256, "batched"), (0, "neighbour-list"))
    if label == "batched" or case.values[0] in PERIODIC
]


@pytest.mark.parametrize("potential", [pytest.param(LJ, id="lj"), pytest.param(Mie(9, 6), id="mie96")])
@pytest.mark.parametrize("which, kind, cutoff, shift, path", PATH_CASES)
def test_features_match_double_loop(request, which, kind, cutoff, shift, potential, path):
    """Both featurisation paths (batched all-images broadcasting; the per-cell matscipy
    neighbour list that periodic cells of more than ``dense_max_atoms`` take) against the
    plain double loop. Clusters always take the batched path."""
    ds = request.getfixturevalue(which)
    f = compute_features(ds, kind=kind, potential=potential, cutoff=cutoff, shift=shift,
                         dense_max_atoms=path)
    labels, (sn, sm, counts, an, am) = reference_features(ds, kind, potential, cutoff, shift)
    assert f.labels == labels
    assert f.kind == kind and f.names == tuple(ds.names)
    assert f.sn.shape == (len(ds), len(labels))
    np.testing.assert_allclose(f.sn, sn, rtol=1e-11, atol=0)
    np.testing.assert_allclose(f.sm, sm, rtol=1e-11, atol=0)
    np.testing.assert_array_equal(f.counts, counts)
    np.testing.assert_allclose(f.effective[0], an, rtol=1e-9, atol=1e-12 * np.abs(sn).max())
    np.testing.assert_allclose(f.effective[1], am, rtol=1e-9, atol=1e-12 * np.abs(sm).max())
    assert f.n_pairs == pytest.approx(counts.sum())


def test_pair_slot_order_is_alphabetical(adsorbate_dataset, cluster_dataset):
    f = compute_features(adsorbate_dataset, kind="pair")
    assert f.slots == (("Au", "C"), ("Au", "H"), ("Au", "O"))
    assert f.labels == ["Au-C", "Au-H", "Au-O"]
    assert compute_features(cluster_dataset).labels == ["Ar-Ar", "Ar-Kr", "Kr-Kr"]


def test_site_slots_are_group_A_indices(molecules_dataset):
    f = compute_features(molecules_dataset, kind="site")
    assert f.slots == tuple(range(6))
    # site k is the k-th group-A atom: CH3OH = C O H H H H, H2O = O H H, CO2 = C O O
    assert f.site_elements == ("C/O", "H/O", "H/O", "H", "H", "H")


def test_site_slots_sort_numerically():
    """Twelve sites: 10 and 11 come after 9, not after 1."""
    a = np.c_[np.arange(12) * 3.0, np.zeros(12), np.full(12, 3.0)]
    b = np.c_[np.arange(12) * 3.0, np.zeros(12), np.zeros(12)]
    s = Structure("row", ["C"] * 12 + ["Au"] * 12, np.vstack([a, b]), groups=[0] * 12 + [1] * 12)
    f = compute_features(Dataset([s]), kind="site")
    assert f.slots == tuple(range(12))
    assert f.labels[-3:] == ["9", "10", "11"]
    # sites are symmetric under the row's mirror: site k and 11−k see the same sums
    np.testing.assert_allclose(f.sn[0], f.sn[0][::-1], rtol=1e-12)


@pytest.mark.parametrize("chunk", [pytest.param(1, id="chunk1"), pytest.param(7, id="chunk7"),
                                   pytest.param(500, id="chunk500")])
@pytest.mark.parametrize("which, kind", [pytest.param("adsorbate_dataset", "site", id="ads-site"),
                                         pytest.param("fcc_dataset", "pair", id="fcc-pair"),
                                         pytest.param("slab_dataset", "pair", id="slab-pair")])
def test_chunking_does_not_change_features(request, which, kind, chunk):
    ds = request.getfixturevalue(which)
    ref = compute_features(ds, kind=kind, cutoff=6.0, shift=True)
    f = compute_features(ds, kind=kind, cutoff=6.0, shift=True, chunk_pairs=chunk)
    for a, b in ((f.sn, ref.sn), (f.sm, ref.sm), (f.counts, ref.counts)):
        np.testing.assert_allclose(a, b, rtol=1e-14, atol=0)


def test_take_selects_rows(cluster_dataset):
    f = compute_features(cluster_dataset, cutoff=7.0, shift=True)
    idx = [5, 0, 5, 2]
    t = f.take(idx)
    np.testing.assert_array_equal(t.sn, f.sn[idx])
    np.testing.assert_array_equal(t.sm, f.sm[idx])
    np.testing.assert_array_equal(t.counts, f.counts[idx])
    np.testing.assert_array_equal(t.effective[0], f.effective[0][idx])
    assert t.names == tuple(cluster_dataset.names[k] for k in idx)
    assert (t.slots, t.cutoff, t.shift, t.potential) == (f.slots, f.cutoff, f.shift, f.potential)


def test_features_are_read_only(adsorbate_dataset):
    f = compute_features(adsorbate_dataset)
    with pytest.raises(ValueError):
        f.sn[0, 0] = 1.0


def _pairs_sorted(i, j, d):
    key = np.lexsort((np.round(d[:, 2], 8), np.round(d[:, 1], 8), np.round(d[:, 0], 8), j, i))
    return i[key], j[key], d[key]


PERIODIC_CELLS = [
    # cell, cutoff, with groups (A = even atoms, B = odd atoms)
    pytest.param("fcc-primitive", 8.0, False, id="fcc-primitive-1atom-all"),
    pytest.param("fcc-cubic", 6.0, False, id="fcc-cubic-4atoms-all"),
    pytest.param("fcc-cubic", 6.0, True, id="fcc-cubic-4atoms-groups"),
    pytest.param("triclinic", 7.0, False, id="triclinic-3atoms-all"),
    pytest.param("triclinic", 7.0, True, id="triclinic-3atoms-groups"),
    pytest.param("slab", 9.0, False, id="slab-pbc-TTF-all"),
    pytest.param("slab", 9.0, True, id="slab-pbc-TTF-groups"),
]


def _periodic_atoms(atoms):
    from ase import Atoms

    rng = np.random.default_rng(8)
    if atoms == "fcc-primitive":
        atoms = bulk("Ar", "fcc", a=5.26)
    elif atoms == "fcc-cubic":
        atoms = bulk("Ar", "fcc", a=5.26, cubic=True)
    elif atoms == "triclinic":
        cell = np.array([[4.0, 0, 0], [1.3, 4.4, 0], [0.7, -0.9, 4.8]])
        atoms = Atoms("ArKrAr", scaled_positions=rng.uniform(0, 1, (3, 3)), cell=cell, pbc=True)
    elif atoms == "slab":
        atoms = Atoms("Ar2Kr2", positions=rng.uniform(0, 4, (4, 3)),
                      cell=[[4.5, 0, 0], [0, 4.5, 0], [0, 0, 10.0]], pbc=[True, True, False])
    atoms = atoms.copy()
    atoms.rattle(0.05, seed=3)
    return atoms


@pytest.mark.parametrize("atoms, rc, with_groups", PERIODIC_CELLS)
def test_pair_list_matches_ase_neighbor_list(atoms, rc, with_groups):
    atoms = _periodic_atoms(atoms)
    assert rc > 0.5 * min(np.linalg.norm(atoms.cell, axis=1)[atoms.pbc])  # several images
    groups = (np.arange(len(atoms)) % 2).astype(np.int8) if with_groups else None
    i, j, d, w = pair_list(atoms.positions, cell=atoms.cell.array, pbc=atoms.pbc,
                           groups=groups, cutoff=rc)
    ri, rj, rd = neighbor_list("ijD", atoms, rc)
    if with_groups:
        keep = (groups[ri] == 0) & (groups[rj] == 1)
        ri, rj, rd = ri[keep], rj[keep], rd[keep]
        np.testing.assert_array_equal(w, 1.0)
    else:
        np.testing.assert_array_equal(w, 0.5)
    assert len(i) == len(ri) > 0
    for a, b in zip(_pairs_sorted(i, j, d), _pairs_sorted(ri, rj, rd)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)
    # vec is r_j − r_i plus a lattice vector
    frac = np.linalg.solve(atoms.cell.array.T,
                           (d - (atoms.positions[j] - atoms.positions[i])).T).T
    np.testing.assert_allclose(frac, np.round(frac), atol=1e-9)


def test_pair_list_cluster():
    rng = np.random.default_rng(4)
    pos = rng.uniform(0, 6, (5, 3))
    i, j, d, w = pair_list(pos)
    assert sorted(zip(i, j)) == [(a, b) for a in range(5) for b in range(a + 1, 5)]
    np.testing.assert_allclose(d, pos[j] - pos[i])
    np.testing.assert_array_equal(w, 1.0)
    groups = np.array([0, 1, 0, 1, 1])
    i, j, d, _ = pair_list(pos, groups=groups, cutoff=5.0)
    expect = [(a, b) for a in (0, 2) for b in (1, 3, 4) if np.linalg.norm(pos[a] - pos[b]) <= 5]
    assert sorted(zip(i, j)) == expect
    with pytest.raises(FitError, match="cutoff"):
        pair_list(pos, cell=np.eye(3) * 10, pbc=[True, True, True])


@pytest.mark.parametrize("periodic", [pytest.param(False, id="cluster"),
                                      pytest.param(True, id="periodic")])
@pytest.mark.parametrize("groups", [pytest.param(None, id="total"),
                                    pytest.param([0, 1, 1], id="interaction")])
def test_duplicate_atom_is_a_data_error(periodic, groups):
    pos = [[0.0, 0, 0], [2.0, 2.0, 2.0], [0.0, 0, 0]]
    s = Structure("dup", ["Ar", "Ar", "Kr"], pos, groups=groups,
                  cell=np.eye(3) * 8.0 if periodic else np.zeros((3, 3)), pbc=periodic)
    with pytest.raises(DataError, match="dup"):
        compute_features(Dataset([s]), cutoff=5.0 if periodic else None)


def test_atom_on_a_periodic_image_is_a_data_error():
    s = Structure("img", ["Ar", "Ar"], [[0.5, 0.5, 0.5], [8.5, 0.5, 0.5]],
                  cell=np.eye(3) * 8.0, pbc=True)
    with pytest.raises(DataError, match="img"):
        compute_features(Dataset([s]), cutoff=5.0)


def test_argument_errors(adsorbate_dataset, cluster_dataset, fcc_dataset):
    with pytest.raises(FitError, match="kind"):
        compute_features(adsorbate_dataset, kind="atom")
    with pytest.raises(FitError, match="per-site"):
        compute_features(cluster_dataset, kind="site")
    with pytest.raises(FitError, match="shift"):
        compute_features(cluster_dataset, shift=True)
    with pytest.raises(FitError, match="cutoff"):
        compute_features(fcc_dataset)
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(FitError, match="cutoff"):
            compute_features(cluster_dataset, cutoff=bad)


def test_no_pair_inside_cutoff_gives_zero_rows(cluster_dataset):
    far = Structure("far", ["Ar", "Ar"], [[0, 0, 0], [0, 0, 20.0]])
    ds = Dataset(list(cluster_dataset)[:2] + [far])
    f = compute_features(ds, cutoff=10.0)
    np.testing.assert_array_equal(f.sn[2], 0.0)
    np.testing.assert_array_equal(f.counts[2], 0.0)
    assert f.counts[0].sum() > 0


def test_cluster_and_periodic_box_agree():
    """The same atoms as a cluster and in a huge periodic box are the same features: in
    particular no slot for an element pair that never comes within the cutoff."""
    pos = [[0, 0, 0], [3.8, 0, 0], [0, 5.0, 0]]  # Ar–Ar 3.8 Å, Ar–Kr 5.0 and 6.3 Å
    cluster = Structure("c", ["Ar", "Ar", "Kr"], pos)
    boxed = Structure("c", ["Ar", "Ar", "Kr"], pos, cell=np.eye(3) * 100.0, pbc=True)
    fp = compute_features(Dataset([boxed]), cutoff=4.5)
    fc = compute_features(Dataset([cluster]), cutoff=4.5)
    assert fp.labels == ["Ar-Ar"]
    assert fc.labels == fp.labels
    np.testing.assert_allclose(fc.sn, fp.sn, rtol=1e-14)


@pytest.mark.parametrize("offset, duplicate", [
    pytest.param(np.array([0.0, 0.0, 0.0005]), True, id="0.5mA-apart"),
    pytest.param(np.array([0.0007, -0.0005, 0.0]), True, id="0.86mA-apart"),
    pytest.param(np.array([0.0, 0.0015, 0.0]), False, id="1.5mA-apart-is-not"),
    pytest.param(np.array([0.6, 0.0, 0.0]), False, id="far"),
])
@pytest.mark.parametrize("group", [pytest.param(0, id="in-group-A"),
                                   pytest.param(1, id="in-group-B")])
def test_duplicates_inside_a_group_of_a_lattice_cluster(offset, duplicate, group):
    """Interaction energies never pair atoms of one group: their duplicates are found by the
    sorted projections, exactly, also among lattice atoms that line up in planes."""
    from ase.build import fcc111

    slab = fcc111("Au", size=(4, 4, 2), vacuum=None).positions
    mol = np.array([[0.0, 0.0, 0.0], [1.1, 0.0, 0.0], [0.0, 1.1, 0.0]]) + [2.0, 2.0, 8.0]
    parts = [mol, slab]
    k = 5 if group == 1 else 1
    parts[group] = np.vstack([parts[group], parts[group][k] + offset])
    pos = np.vstack(parts)
    groups = [0] * len(parts[0]) + [1] * len(parts[1])
    symbols = ["C"] * len(parts[0]) + ["Au"] * len(parts[1])
    ds = Dataset([Structure("lat", symbols, pos, groups=groups),
                  Structure("ok", symbols, pos + np.where(np.arange(len(pos))[:, None] ==
                                                          len(pos) - 1 if group else
                                                          len(parts[0]) - 1, 5.0, 0.0),
                            groups=groups)])
    if duplicate:
        with pytest.raises(DataError, match="lat.*the same atom written twice"):
            compute_features(ds)
    else:
        compute_features(ds)


@pytest.mark.parametrize("cutoff, words", [
    pytest.param(1000.0, "periodic images", id="cutoff-1000"),
    pytest.param(1e6, "pairs", id="cutoff-1e6"),
    pytest.param(1e308, "more pairs than a float can count", id="cutoff-1e308"),
])
def test_absurd_cutoffs_are_refused_up_front(cutoff, words):
    """Before any image or pair is allocated: an estimate of the pairs, their memory and
    time, and the remedy."""
    ds = make_fcc_argon_dataset(2, np.random.default_rng(1), repeat=1, cutoff=6.0)
    import time

    t0 = time.perf_counter()
    with pytest.raises(FitError) as err:
        compute_features(ds, cutoff=cutoff)
    # refused, not attempted: an attempt would run for hours (or exhaust memory); the bound
    # is loose so that a loaded machine cannot fail it
    assert time.perf_counter() - t0 < 30.0
    msg = str(err.value)
    assert words in msg and "lower --cutoff" in msg, msg


def test_estimate_of_a_300_atom_cell_at_1e4_angstrom():
    from ase.build import bulk

    atoms = bulk("Ar", "fcc", a=5.26, cubic=True).repeat((5, 5, 3))  # 300 atoms
    s = Structure("big", atoms.get_chemical_symbols(), atoms.positions, cell=atoms.cell,
                  pbc=True)
    with pytest.raises(FitError, match=r"≈ .*pairs.*TB.*lower --cutoff"):
        compute_features(Dataset([s]), cutoff=1e4)
