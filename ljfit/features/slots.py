"""Slots: what one pair's (ε, σ) belong to — its element pair, or its group-A site."""

from __future__ import annotations

import numpy as np

from ..dataset import GROUP_A

__all__ = ["SlotTable", "slot_label", "site_index", "KINDS"]

#: ``"pair"``: one slot per element pair (per-element and per-pair scopes);
#: ``"site"``: one slot per atom of group A, by its index within group A (per-site scope).
KINDS = ("pair", "site")


def slot_label(slot) -> str:
    """``3`` for a site, ``"Au-C"`` for an element pair (alphabetical)."""
    return str(slot) if isinstance(slot, (int, np.integer)) else "-".join(slot)


def site_index(groups: np.ndarray) -> np.ndarray:
    """Index of each group-A atom within group A (−1 for group B)."""
    site = np.full(len(groups), -1)
    a = groups == GROUP_A
    site[a] = np.arange(int(a.sum()))
    return site


class SlotTable:
    """Global slot ids of a data set, fixed before any pair is seen.

    ``"pair"``: the element pairs (a, b), a ≤ b alphabetically, of the data set's elements,
    numbered in that (sorted) order. ``"site"``: 0 … (largest group A) − 1. Slots that no
    pair falls into are dropped once every pair has been counted.
    """

    def __init__(self, kind: str, dataset):
        self.kind = kind
        if kind == "site":
            n_sites = max(int(np.sum(s.groups == GROUP_A)) for s in dataset._distinct_layouts())
            self.keys = tuple(range(n_sites))
            return
        elements = dataset.elements
        self.code = {e: k for k, e in enumerate(elements)}
        n = len(elements)
        self.lut = np.full((n, n), -1, dtype=np.int64)
        keys = []
        for a in range(n):
            for b in range(a, n):
                self.lut[a, b] = self.lut[b, a] = len(keys)
                keys.append((elements[a], elements[b]))
        self.keys = tuple(keys)
        self._codes: dict = {}

    @property
    def n_slots(self) -> int:
        return len(self.keys)

    def atom_codes(self, symbols: tuple) -> np.ndarray:
        """Element code of every atom (cached per symbol tuple)."""
        codes = self._codes.get(symbols)
        if codes is None:
            codes = np.array([self.code[s] for s in symbols], dtype=np.int64)
            self._codes[symbols] = codes
        return codes

    def ids(self, structure, i, j) -> np.ndarray:
        """Global slot id of each pair (i, j) of ``structure`` (i ∈ A for sites)."""
        if self.kind == "site":
            return site_index(structure.groups)[i].astype(np.int64)
        codes = self.atom_codes(structure.symbols)
        return self.lut[codes[i], codes[j]]
