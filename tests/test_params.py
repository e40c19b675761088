"""Parameter specs: names ↔ vectors, fixed/bounds/values, validation, mixing rules."""

import math

import numpy as np
import pytest

from ljfit.errors import FitError
from ljfit.params import (
    ParamSpec,
    Parameter,
    mix,
    normalize_mixing,
    normalize_scope,
    resolve_pair,
    slot_parameter_names,
)

NAMES = ["epsilon[Au-C]", "epsilon[Au-O]", "sigma[Au-C]", "sigma[Au-O]", "offset"]
VALUES = [0.02, 0.03, 3.2, 3.0, -0.5]


@pytest.fixture
def spec():
    bounds = {"epsilon": (1e-6, 1.0), "sigma": (1.0, 6.0), "offset": (-np.inf, np.inf)}
    return ParamSpec(Parameter(n, v, *bounds[n.split("[")[0]]) for n, v in zip(NAMES, VALUES))


def test_names_and_vectors(spec):
    assert spec.names == NAMES
    assert len(spec) == 5 and spec.n_free == 5
    assert [spec.index(n) for n in NAMES] == [0, 1, 2, 3, 4]
    assert "sigma[Au-O]" in spec and "sigma[Au-H]" not in spec
    np.testing.assert_array_equal(spec.values, VALUES)
    np.testing.assert_array_equal(spec.x0, VALUES)
    assert spec.free_names == NAMES
    assert spec.kinds == ["epsilon", "epsilon", "sigma", "sigma", "offset"]
    assert spec.as_dict() == dict(zip(NAMES, VALUES))
    x = np.array([0.1, 0.2, 3.3, 3.4, 1.0])
    np.testing.assert_array_equal(spec.full(x), x)
    p = spec["sigma[Au-C]"]
    assert (p.kind, p.key, p.unit) == ("sigma", "Au-C", "Å")
    assert (spec["offset"].kind, spec["offset"].key, spec["offset"].unit) == ("offset", "", "eV")


def test_with_fixed(spec):
    fixed = spec.with_fixed({"sigma[Au-C]": 3.5, "offset": 0.25})
    assert fixed.free_names == ["epsilon[Au-C]", "epsilon[Au-O]", "sigma[Au-O]"]
    np.testing.assert_array_equal(fixed.free, [0, 1, 3])
    np.testing.assert_array_equal(fixed.x0, [0.02, 0.03, 3.0])
    full = fixed.full([0.1, 0.2, 3.9])
    np.testing.assert_array_equal(full, [0.1, 0.2, 3.5, 3.9, 0.25])
    assert fixed.as_dict([0.1, 0.2, 3.9])["sigma[Au-C]"] == 3.5
    np.testing.assert_array_equal(fixed.lower, [1e-6, 1e-6, 1.0])
    np.testing.assert_array_equal(fixed.upper, [1.0, 1.0, 6.0])
    # a fixed value outside the bounds widens them rather than failing
    wide = spec.with_fixed({"sigma[Au-C]": 7.0})["sigma[Au-C]"]
    assert (wide.value, wide.lower, wide.upper, wide.vary) == (7.0, 1.0, 7.0, False)
    # the original is untouched; with_free undoes
    assert spec.n_free == 5
    assert fixed.with_free(["sigma[Au-C]", "offset"]).free_names == NAMES


def test_with_bounds(spec):
    b = spec.with_bounds({"sigma[Au-C]": (3.5, 4.0), "epsilon[Au-O]": (0.0, 0.02)})
    assert (b["sigma[Au-C]"].lower, b["sigma[Au-C]"].upper) == (3.5, 4.0)
    assert b["sigma[Au-C]"].value == 3.5  # moved inside
    assert b["epsilon[Au-O]"].value == 0.02
    np.testing.assert_array_equal(b.clip([2.0, 1.0, 1.0, 9.0, 5.0]), [1.0, 0.02, 3.5, 6.0, 5.0])
    assert spec["sigma[Au-C]"].value == 3.2


def test_with_values(spec):
    by_name = spec.with_values({"epsilon[Au-O]": 0.5, "offset": 2.0})
    np.testing.assert_array_equal(by_name.values, [0.02, 0.5, 3.2, 3.0, 2.0])
    fixed = spec.with_fixed({"epsilon[Au-C]": 0.07})
    by_vector = fixed.with_values(np.array([0.1, 3.1, 3.9, 1.0]))
    np.testing.assert_array_equal(by_vector.values, [0.07, 0.1, 3.1, 3.9, 1.0])
    assert not by_vector["epsilon[Au-C]"].vary
    np.testing.assert_array_equal(spec.values, VALUES)


def test_with_values_rejects_wrong_length_vector(spec):
    """A free vector of the wrong length must not be silently truncated by zip()."""
    with pytest.raises(FitError):
        spec.with_values(np.array([0.1, 0.2]))


def test_full_rejects_wrong_shape(spec):
    with pytest.raises(FitError, match=r"\(5,\)"):
        spec.full([1.0, 2.0])


def test_to_records(spec):
    rec = spec.with_fixed({"offset": 1.0}).to_records()
    assert [r["name"] for r in rec] == NAMES
    assert rec[4] == {"name": "offset", "value": 1.0, "lower": -np.inf, "upper": np.inf,
                      "vary": False, "unit": "eV"}
    assert rec[0]["unit"] == "eV" and rec[2]["unit"] == "Å"


def test_unknown_name_lists_the_names(spec):
    for call in (lambda: spec["sigma[Au-H]"],
                 lambda: spec.with_fixed({"sigma[Au-H]": 3.0}),
                 lambda: spec.with_bounds({"sigma[Au-H]": (1, 2)}),
                 lambda: spec.with_values({"sigma[Au-H]": 3.0})):
        with pytest.raises(FitError) as info:
            call()
        msg = str(info.value)
        assert "sigma[Au-H]" in msg and all(n in msg for n in NAMES)


@pytest.mark.parametrize("name", [
    pytest.param("eps[C]", id="bad-kind"),
    pytest.param("epsilon[]", id="empty-key"),
    pytest.param("epsilon", id="no-key"),
    pytest.param("sigma[C", id="unclosed"),
    pytest.param("offset[1]", id="offset-with-key"),
    pytest.param("Sigma[C]", id="capital"),
])
def test_bad_parameter_name(name):
    with pytest.raises(FitError, match=name.replace("[", r"\[")):
        Parameter(name, 1.0, 0.0, 2.0)


@pytest.mark.parametrize("name, value, lower, upper", [
    pytest.param("sigma[C]", 3.0, 4.0, 2.0, id="reversed"),
    pytest.param("sigma[C]", 3.0, 2.0, 2.0, id="equal"),
    pytest.param("sigma[C]", 3.0, math.nan, 4.0, id="nan-lower"),
    pytest.param("epsilon[C]", 0.1, -1.0, 1.0, id="negative-epsilon"),
    pytest.param("sigma[3]", 3.0, -0.5, 5.0, id="negative-sigma"),
    pytest.param("offset", math.inf, 0.0, 1.0, id="infinite-value"),
    pytest.param("offset", math.nan, 0.0, 1.0, id="nan-value"),
])
def test_bad_parameter_values(name, value, lower, upper):
    with pytest.raises(FitError) as info:
        Parameter(name, value, lower, upper)
    assert name in str(info.value)


def test_bad_bounds_through_the_spec_name_the_parameter(spec):
    with pytest.raises(FitError, match=r"sigma\[Au-O\]"):
        spec.with_bounds({"sigma[Au-O]": (5.0, 2.0)})
    with pytest.raises(FitError, match=r"epsilon\[Au-C\]"):
        spec.with_bounds({"epsilon[Au-C]": (-1.0, 2.0)})


def test_duplicate_names():
    with pytest.raises(FitError, match="duplicate"):
        ParamSpec([Parameter("offset", 0.0), Parameter("offset", 1.0)])


def test_offset_may_be_negative():
    p = Parameter("offset", -3.0, -10.0, 10.0)
    assert (p.value, p.lower, p.upper) == (-3.0, -10.0, 10.0)


@pytest.mark.parametrize("rule, expected", [
    pytest.param("lorentz-berthelot", (math.sqrt(0.01 * 0.04), 3.5), id="lb"),
    pytest.param("geometric", (math.sqrt(0.01 * 0.04), math.sqrt(3.0 * 4.0)), id="geometric"),
])
def test_mix(rule, expected):
    eps, sig = mix(rule, 0.01, 0.04, 3.0, 4.0)
    assert (float(eps), float(sig)) == pytest.approx(expected, rel=1e-15)
    # a like pair is unchanged by either rule
    assert tuple(map(float, mix(rule, 0.02, 0.02, 3.3, 3.3))) == pytest.approx((0.02, 3.3))


def test_slot_parameter_names():
    assert slot_parameter_names("per-site", 3) == ("epsilon[3]", "sigma[3]")
    assert slot_parameter_names("per-pair", ("Au", "C")) == ("epsilon[Au-C]", "sigma[Au-C]")
    assert slot_parameter_names("per-element", ("Au", "C")) == (
        ("epsilon[Au]", "epsilon[C]"), ("sigma[Au]", "sigma[C]"))


def test_resolve_pair():
    values = {"epsilon[Ar]": 0.01, "epsilon[Kr]": 0.04, "sigma[Ar]": 3.0, "sigma[Kr]": 4.0}
    eps, sig = resolve_pair("per-element", "lorentz-berthelot", values, ("Ar", "Kr"))
    assert (eps, sig) == pytest.approx((0.02, 3.5))
    del values["sigma[Kr]"]
    with pytest.raises(FitError, match=r"sigma\[Kr\]"):
        resolve_pair("per-element", "geometric", values, ("Ar", "Kr"))
    with pytest.raises(FitError, match=r"epsilon\[Ar-Kr\]"):
        resolve_pair("per-pair", "geometric", values, ("Ar", "Kr"))


@pytest.mark.parametrize("text, expected", [
    ("per-pair", "per-pair"), ("pair", "per-pair"), ("PER_SITE", "per-site"),
    ("element", "per-element"),
])
def test_normalize_scope(text, expected):
    assert normalize_scope(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("lb", "lorentz-berthelot"), ("Lorentz_Berthelot", "lorentz-berthelot"),
    ("geo", "geometric"), ("geometric", "geometric"),
])
def test_normalize_mixing(text, expected):
    assert normalize_mixing(text) == expected


def test_normalize_rejects():
    with pytest.raises(FitError, match="per-site, per-element, per-pair"):
        normalize_scope("per-atom")
    with pytest.raises(FitError, match="lorentz-berthelot, geometric"):
        normalize_mixing("waldman-hagler")
