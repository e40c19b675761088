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


# --------------------------------------------------------------------------------------
# periodic cells: every path against a brute force over all pairs × all images
# --------------------------------------------------------------------------------------


def brute_force_rows(structure, cutoff, kind="pair", potential=LJ):
    """Energy sums, force rows and stress rows of one periodic structure by brute force:
    every ordered pair (i, j) × every lattice translation that could matter (the image
    list of the double-loop oracle, with its margin), nothing culled before the distance.

    Returns ``{label: (sn, sm, count, fn (3N,), fm (3N,), vn (6,), vm (6,))}``.
    """
    from conftest import _image_translations

    n, m = potential.n, potential.m
    pos = np.asarray(structure.positions, dtype=float)
    N = len(pos)
    groups = structure.groups
    ii, jj = np.meshgrid(np.arange(N), np.arange(N), indexing="ij")
    ii, jj = ii.ravel(), jj.ravel()
    if groups is None:
        w = 0.5  # both directions, half weight each
        ordered = np.ones(len(ii), bool)
    else:
        w = 1.0
        ordered = (groups[ii] == 0) & (groups[jj] == 1)
    ii, jj = ii[ordered], jj[ordered]
    labels = np.array([pair_label(structure, a, b, kind) for a, b in zip(ii, jj)])
    volume = abs(np.linalg.det(structure.cell)) if np.all(structure.pbc) else None
    voigt = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))
    out = {}
    for t in _image_translations(structure, cutoff):
        d = pos[jj] + t - pos[ii]
        r2 = np.einsum("pk,pk->p", d, d)
        keep = (r2 <= cutoff * cutoff) & (r2 > 1e-12)  # not an atom with itself
        for lab in np.unique(labels[keep]):
            sel = keep & (labels == lab)
            r = np.sqrt(r2[sel])
            dd = d[sel]
            gn, gm = n * r ** (-n - 2), m * r ** (-m - 2)
            rows = out.setdefault(lab, [0.0, 0.0, 0.0, np.zeros(3 * N), np.zeros(3 * N),
                                        np.zeros(6), np.zeros(6)])
            rows[0] += w * np.sum(r ** -n)
            rows[1] += w * np.sum(r ** -m)
            rows[2] += w * np.sum(sel)
            for f, g in ((rows[3], gn), (rows[4], gm)):
                for a in range(3):
                    np.add.at(f, 3 * jj[sel] + a, w * g * dd[:, a])
                    np.add.at(f, 3 * ii[sel] + a, -w * g * dd[:, a])
            if volume:
                for v, (a, b) in enumerate(voigt):
                    rows[5][v] -= w * np.sum(gn * dd[:, a] * dd[:, b]) / volume
                    rows[6][v] -= w * np.sum(gm * dd[:, a] * dd[:, b]) / volume
    return out


def _strained(base_cell, frac, rng, strain=0.02, rattle=0.08):
    cell = np.asarray(base_cell, float) @ (np.eye(3) + rng.uniform(-strain, strain, (3, 3)))
    return cell, frac @ cell + rng.normal(scale=rattle, size=frac.shape)


def _cells_case(case):
    """(Dataset, cutoff, kind) of one periodic case: several structures of one layout (the
    batched path stacks them), strained and rattled differently."""
    import zlib

    from ase.build import bulk, fcc111, molecule

    rng = np.random.default_rng(zlib.crc32(case.encode()))
    structures = []

    def add(symbols, frac, cell, pbc=True, groups=None, count=2, strain=0.02):
        for k in range(count):
            c, p = _strained(cell, frac, rng, strain=strain)
            structures.append(Structure(f"{case}{k}", symbols, p, cell=c, pbc=pbc,
                                        groups=groups))

    if case == "fcc108-cubic":  # 15.8 Å: every face, edge and corner image, some atoms each
        a = bulk("Ar", "fcc", a=5.26, cubic=True).repeat(3)
        add(a.get_chemical_symbols(), a.get_scaled_positions(), a.cell.array)
        return Dataset(structures), 8.5, "pair"
    if case == "fcc256-cubic":  # more than DENSE_MAX_ATOMS, 3.6 cutoff spheres
        a = bulk("Ar", "fcc", a=5.26, cubic=True).repeat(4)
        add(a.get_chemical_symbols(), a.get_scaled_positions(), a.cell.array, count=1)
        return Dataset(structures), 8.5, "pair"
    if case == "triclinic-ArKr":  # strongly sheared: images found along plane normals
        cell = np.array([[7.0, 0.0, 0.0], [4.1, 6.2, 0.0], [-2.3, 3.1, 6.6]])
        frac = rng.uniform(0, 1, (14, 3))
        add(list(rng.choice(["Ar", "Kr"], 14)), frac, cell, count=3)
        return Dataset(structures), 9.0, "pair"
    if case == "tiny-cell-cutoff-3x-cell":  # 2 atoms, 3.2 Å cell: 7³ images, self images
        cell = np.array([[3.2, 0.0, 0.0], [0.4, 3.3, 0.0], [0.2, -0.3, 3.4]])
        add(["Ar", "Kr"], np.array([[0.1, 0.2, 0.3], [0.6, 0.55, 0.7]]), cell)
        return Dataset(structures), 10.0, "pair"
    if case == "elongated-1x1x6":  # the long axis needs one image, the short ones several
        a = bulk("Ar", "fcc", a=5.26, cubic=True).repeat((1, 1, 6))
        add(a.get_chemical_symbols(), a.get_scaled_positions(), a.cell.array)
        return Dataset(structures), 8.0, "pair"
    if case == "slab-pbc-TTF":
        cell = np.diag([8.0, 7.5, 30.0])
        frac = np.column_stack([rng.uniform(0, 1, (20, 2)), rng.uniform(0.3, 0.6, 20)])
        add(["Ar"] * 20, frac, cell, pbc=[True, True, False])
        return Dataset(structures), 7.5, "pair"
    if case == "wire-pbc-TFF":
        cell = np.diag([6.0, 20.0, 20.0])
        frac = np.column_stack([rng.uniform(0, 1, 12), rng.uniform(0.4, 0.6, (12, 2))])
        add(["Ar", "Kr"] * 6, frac, cell, pbc=[True, False, False])
        return Dataset(structures), 9.0, "pair"
    if case in ("interaction-slab-pair", "interaction-slab-site"):
        slab = fcc111("Au", size=(3, 3, 2), vacuum=None)
        mol = molecule("CH3OH")
        top = slab.positions[:, 2].max()
        cell = slab.cell.array.copy()
        cell[2, 2] = 25.0
        for k in range(3):
            p = mol.positions - mol.positions.mean(0) + [2.5 + k, 1.5, top + 3.0 + 0.4 * k]
            pos = np.vstack([p, slab.positions + rng.normal(scale=0.03, size=(18, 3))])
            structures.append(Structure(f"{case}{k}", mol.get_chemical_symbols()
                                        + slab.get_chemical_symbols(), pos, cell=cell,
                                        pbc=[True, True, False],
                                        groups=[0] * len(mol) + [1] * len(slab)))
        return Dataset(structures), 8.0, "pair" if case.endswith("pair") else "site"
    if case == "interaction-bulk-TTT":  # groups in a cell periodic along all three axes
        a = bulk("Ar", "fcc", a=5.26, cubic=True).repeat(2)
        groups = (np.arange(len(a)) % 3 == 0).astype(int)
        add(a.get_chemical_symbols(), a.get_scaled_positions(), a.cell.array,
            groups=groups)
        return Dataset(structures), 7.0, "pair"
    raise ValueError(case)


CELL_CASES = ["fcc108-cubic", "fcc256-cubic", "triclinic-ArKr", "tiny-cell-cutoff-3x-cell",
              "elongated-1x1x6", "slab-pbc-TTF", "wire-pbc-TFF", "interaction-slab-pair",
              "interaction-slab-site", "interaction-bulk-TTT"]
#: the automatic choice, the batched path forced, vesin's cell list forced
CELL_PATHS = {"auto": None, "batched": 10**6, "vesin": 0}


@pytest.fixture(scope="module")
def brute_force_cases():
    """Each case's dataset and its brute-force rows, computed once per module."""
    cache = {}

    def get(case):
        if case not in cache:
            ds, rc, kind = _cells_case(case)
            cache[case] = ds, rc, kind, [brute_force_rows(s, rc, kind) for s in ds]
        return cache[case]

    return get


@pytest.mark.parametrize("path", list(CELL_PATHS))
@pytest.mark.parametrize("case", CELL_CASES)
def test_periodic_features_match_brute_force(brute_force_cases, case, path):
    """Energy sums, counts, force rows and (fully periodic cells) stress rows of every
    periodic path against every pair × every image: cubic, triclinic, tiny and elongated
    cells, cutoffs several times the cell, slabs and wires, interaction energies."""
    ds, rc, kind, ref = brute_force_cases(case)
    stress = bool(np.all(ds[0].pbc))
    f = compute_features(ds, kind=kind, cutoff=rc, forces=True, stress=stress,
                         dense_max_atoms=CELL_PATHS[path])
    labels = f.labels
    assert labels == sorted({lab for r in ref for lab in r},
                            key=(lambda k: int(k)) if kind == "site" else (lambda k: k))
    fi = f.force_index()
    rows = np.concatenate(([0], np.cumsum(f.force_rows)))
    for s, r in enumerate(ref):
        for k, lab in enumerate(labels):
            sn, sm, count, fn, fm, vn, vm = r.get(lab, (0.0, 0.0, 0.0, 0, 0, 0, 0))
            where = f"{case}, {path} path, structure {s}, slot {lab}"
            assert f.counts[s, k] == count, where
            np.testing.assert_allclose(f.sn[s, k], sn, rtol=1e-11, atol=0, err_msg=where)
            np.testing.assert_allclose(f.sm[s, k], sm, rtol=1e-11, atol=0, err_msg=where)
            got = f.fn[fi[rows[s]:rows[s + 1]], k], f.fm[fi[rows[s]:rows[s + 1]], k]
            for g, want in zip(got, (fn, fm)):
                scale = np.abs(want).max() if np.ndim(want) else 1.0
                np.testing.assert_allclose(g, want, rtol=0, atol=1e-11 * scale,
                                           err_msg=where)
            if stress:
                for g, want in ((f.vn[6 * s:6 * s + 6, k], vn),
                                (f.vm[6 * s:6 * s + 6, k], vm)):
                    scale = np.abs(want).max() if np.ndim(want) else 1.0
                    np.testing.assert_allclose(g, want, rtol=0, atol=1e-11 * scale,
                                               err_msg=where)


@pytest.mark.parametrize("case", ["fcc108-cubic", "triclinic-ArKr", "interaction-slab-site"])
@pytest.mark.parametrize("chunk", [1, 97, 5000])
def test_periodic_chunks_give_the_same_features(brute_force_cases, case, chunk):
    """Chunks smaller than one image block of one cell (its rows of i in parts), than one
    cell's home pairs, and several cells per chunk: the same sums."""
    ds, rc, kind, _ = brute_force_cases(case)
    ref = compute_features(ds, kind=kind, cutoff=rc, forces=True, dense_max_atoms=10**6)
    f = compute_features(ds, kind=kind, cutoff=rc, forces=True, dense_max_atoms=10**6,
                         chunk_pairs=chunk)
    np.testing.assert_array_equal(f.counts, ref.counts)
    for a, b in ((f.sn, ref.sn), (f.sm, ref.sm), (f.fn, ref.fn), (f.fm, ref.fm)):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13 * np.abs(b).max())


@pytest.mark.parametrize("case", ["triclinic-ArKr", "interaction-slab-pair"])
def test_periodic_force_and_stress_rows_are_derivatives_of_the_sums(brute_force_cases, case):
    """Finite differences of the batched path's own energy sums: moving atom i changes
    S^(n) by −X^(n)_i·δ; straining the cell (and the atoms with it) by V·Σ^(n)·ε."""
    ds, rc, kind, _ = brute_force_cases(case)
    st = ds[0]
    kw = dict(kind=kind, cutoff=rc, dense_max_atoms=10**6)
    f = compute_features(Dataset([st]), forces=True, stress=bool(np.all(st.pbc)), **kw)

    def sums(positions, cell):
        s = Structure("p", st.symbols, positions, cell=cell, pbc=st.pbc, groups=st.groups)
        g = compute_features(Dataset([s]), **kw)
        return np.array([g.sn[0, g.labels.index(lab)] if lab in g.labels else 0.0
                         for lab in f.labels])

    h = 1e-5
    for atom in (0, len(st.positions) - 1):
        for a in range(3):
            p_plus, p_minus = st.positions.copy(), st.positions.copy()
            p_plus[atom, a] += h
            p_minus[atom, a] -= h
            fd = -(sums(p_plus, st.cell) - sums(p_minus, st.cell)) / (2 * h)
            np.testing.assert_allclose(f.fn[3 * atom + a], fd, rtol=1e-6,
                                       atol=1e-6 * np.abs(f.fn).max(),
                                       err_msg=f"{case}: atom {atom}, axis {a}")
    if np.all(st.pbc):
        voigt = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))
        vol = abs(np.linalg.det(st.cell))
        for v, (a, b) in enumerate(voigt):
            e = np.zeros((3, 3))
            e[a, b] = e[b, a] = 1e-6 if a == b else 0.5e-6
            out = [sums(st.positions @ (np.eye(3) + sg * e), st.cell @ (np.eye(3) + sg * e))
                   for sg in (1, -1)]
            fd = (out[0] - out[1]) / 2e-6 / vol
            np.testing.assert_allclose(f.vn[v], fd, rtol=1e-6,
                                       atol=1e-6 * np.abs(f.vn).max(),
                                       err_msg=f"{case}: Voigt {v}")


def test_cells_small_next_to_the_cutoff_take_the_batched_path(monkeypatch):
    """The automatic choice: a 256-atom cell at 8.5 Å (3.6 cutoff spheres) is batched, the
    same cell at 5 Å (17 spheres) goes to vesin; 108 atoms are always batched."""
    from ljfit.features import batched

    ds, _, _ = _cells_case("fcc256-cubic")
    taken = []
    real = batched.neighbour_block
    monkeypatch.setattr(batched, "neighbour_block",
                        lambda *a, **k: taken.append("vesin") or real(*a, **k))
    compute_features(ds, cutoff=8.5)
    assert taken == []
    compute_features(ds, cutoff=5.0)
    assert taken == ["vesin"]
    taken.clear()
    compute_features(_cells_case("fcc108-cubic")[0], cutoff=4.0)
    assert taken == []


def test_featurisation_runs_blas_on_one_thread(monkeypatch, cluster_dataset):
    """The Python API keeps the process's BLAS threads; featurising limits them to one
    inside (many small products: a second thread only contends) and restores them."""
    from threadpoolctl import threadpool_info

    from ljfit.features import accumulate

    seen = []
    real = accumulate.Accumulator.add_dense

    def spy(self, *a, **k):
        seen.extend(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
        return real(self, *a, **k)

    monkeypatch.setattr(accumulate.Accumulator, "add_dense", spy)
    before = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    compute_features(cluster_dataset, forces=True)
    assert seen and set(seen) == {1}
    assert [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"] == before


@pytest.mark.parametrize("chunk", [pytest.param(7, id="chunk7"), pytest.param(None, id="default")])
def test_duplicate_in_a_periodic_group_among_many_geometries(chunk):
    """Duplicates inside a group of periodic cells are looked for chunk by chunk over the
    distinct group geometries (a slab rattled in every structure): found in the last one,
    and named."""
    rng = np.random.default_rng(9)
    cell = np.diag([9.0, 9.0, 20.0])
    structures = []
    for k in range(6):
        slab = np.column_stack([rng.uniform(0, 9, (8, 2)), rng.uniform(0, 2, 8)])
        if k == 5:
            slab[7] = slab[2] + [9.0 + 3e-4, 0.0, 0.0]  # atom 2's periodic image, 0.3 mÅ off
        mol = [[4.5, 4.5, 6.0], [5.5, 4.5, 6.0]]
        structures.append(Structure(f"g{k}", ["C", "O"] + ["Au"] * 8, np.vstack([mol, slab]),
                                    groups=[0, 0] + [1] * 8, cell=cell,
                                    pbc=[True, True, False]))
    kw = {} if chunk is None else {"chunk_pairs": chunk}
    compute_features(Dataset(structures[:5]), cutoff=6.0, **kw)
    with pytest.raises(DataError, match="g5"):
        compute_features(Dataset(structures), cutoff=6.0, **kw)
