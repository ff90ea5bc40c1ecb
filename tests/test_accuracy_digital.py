"""A digital bit-serial macro's accuracy is the exact path's (docs/accuracy.md, "Digital macros")."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.accuracy.digital import digital_chip_matmul
from accelsim.accuracy.ptq import PtqOptions
from accelsim.accuracy.study import evaluate_accuracy, load_test_set
from accelsim.config import load_arch
from accelsim.mapping import plan as make_plan
from accelsim.workload import load_workload


@pytest.fixture(scope="module")
def study():
    arch = load_arch("macros/colonnade_jssc21")
    workload = load_workload("kws_dscnn")
    return evaluate_accuracy(arch, workload, load_test_set(workload, samples=60), dies=2, ptq=PtqOptions())


def test_the_digital_chip_is_exact(study):
    assert study.accuracy_uncalibrated == study.accuracy_calibrated == study.accuracy_ideal
    assert study.layers and all(e.rmse_lsb_uncalibrated == 0.0 and e.sqnr_db_calibrated == float("inf")
                                for e in study.layers)
    assert {e.layer for e in study.layers} == {"conv1", "pw1", "pw2", "pw3", "pw4", "fc"}
    # no population: every die the same chip
    assert len(study.dies) == 2 and study.dies[0].accuracy_calibrated == study.dies[1].accuracy_calibrated


def test_the_digital_matmul_is_the_macros_bit_serial_product():
    """Tile by tile through hw.digital.digital_mvm, summed as the digital unit sums row tiles: the exact product."""
    from accelsim.workload import workload_from_dict

    arch = load_arch("macros/colonnade_jssc21", ["macro.input_bits=4"])
    wl = workload_from_dict({"name": "t", "input_shape": [3, 300], "layers": [
        {"name": "fc", "type": "linear", "units": 40}]})
    tile_plan = make_plan(wl, arch)
    rng = np.random.default_rng(1)
    x = rng.integers(0, 16, size=(1, 3, 300))
    w = rng.integers(-128, 128, size=(1, 300, 40))
    errors = {}
    out = digital_chip_matmul(arch, tile_plan, errors)(wl.layers[0], x, w)
    assert np.array_equal(out, np.einsum("gmk,gkn->gmn", x, w))
    assert errors["fc"].error_sq == 0.0 and errors["fc"].mvms == 3 * tile_plan.layers[0].weight_tiles
