import csv
import math

import numpy as np
import pytest

from encoder.descriptors import DESCRIPTORS, MAXS, MINS, RANGES, denormalise, normalise


def test_order_is_the_contract():
    assert DESCRIPTORS == ("hardness", "depth", "brightness", "roughness", "warmth", "sharpness", "boominess")


def test_ranges_recomputed_from_the_dataset_analysis(reference):
    with open(reference / "freesound_analysis.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 10254
    complete = []
    for r in rows:
        try:
            values = [float(r[n]) for n in DESCRIPTORS]
        except ValueError:  # empty cell: key missing in the JSON
            continue
        if all(math.isfinite(v) for v in values):
            complete.append(values)
    data = np.array(complete)
    assert len(data) == 10246
    for i, name in enumerate(DESCRIPTORS):
        lo, hi = RANGES[name]
        assert data[:, i].min() == pytest.approx(lo, abs=1e-6), name
        assert data[:, i].max() == pytest.approx(hi, abs=1e-6), name
    assert data.min() >= 0 and data.max() <= 100  # clipped as AudioCommons points


def test_normalise_roundtrip_and_endpoints():
    assert np.allclose(normalise(MINS), 0) and np.allclose(normalise(MAXS), 1)
    x = np.random.default_rng(0).uniform(0, 100, (5, 7))
    assert np.allclose(denormalise(normalise(x)), x)
