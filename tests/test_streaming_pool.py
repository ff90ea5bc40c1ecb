"""A pool over its whole input is a streaming reduction: its buffer need is C accumulators, not a window."""

from __future__ import annotations

import pytest
import yaml

from accelsim.api import RunOptions, simulate
from accelsim.config import load_arch
from accelsim.config.resources import resolve
from accelsim.errors import MappingError
from accelsim.mapping import plan
from accelsim.mapping.planner import row_bits
from accelsim.units import BITS_PER_KIB
from accelsim.workload import load_workload, workload_from_dict


def _resnet18(size: int):
    data = yaml.safe_load(resolve("resnet18_imagenet", "workload").read_text())
    data["input_shape"] = [3, size, size]
    return workload_from_dict(data)


def _pool_input(p, layer: str):
    (stage,) = [s for s in p.stages if s.layer == layer]
    (inp,) = stage.inputs
    return inp


def _small(pool: dict, kind: str = "avgpool"):
    return workload_from_dict({"name": "gp", "input_shape": [16, 8, 8], "layers": [
        {"name": "conv", "type": "conv2d", "filters": 32, "kernel": 3, "padding": 1, "activation": "relu"},
        {"name": "pool", "type": kind, **pool},
        {"name": "flatten", "type": "flatten"},
        {"name": "fc", "type": "linear", "units": 10}]})


def test_resnet18_at_448_plans_and_runs():
    """The 512 x 14 x 14 pool's window (802,816 bits) is more than the global buffer; its accumulators are not."""
    arch = load_arch()
    w = _resnet18(448)
    chip = arch.chip
    largest = max(chip.tile_buffer_kib, chip.global_buffer_kib) * BITS_PER_KIB
    shape = next(layer for layer in w.layers if layer.name == "avgpool").in_shapes[0]
    assert tuple(shape) == (512, 14, 14)
    window_need = 14 * row_bits(tuple(shape), chip.activation_bits)
    assert window_need == 802_816 > largest  # what the planner refused before
    p = plan(w, arch)
    inp = _pool_input(p, "avgpool")
    assert inp.streamed
    assert inp.buffer_bits == 512 * chip.partial_sum_bits
    r = simulate(arch, w, RunOptions(batch=1, mode="grouped"))
    assert r.latency_cycles > simulate(arch, _resnet18(224), RunOptions(batch=1, mode="grouped")).latency_cycles


def test_timing_of_workloads_that_ran_is_unchanged():
    """Figures recorded before the change (mram72 defaults, batch 1)."""
    arch = load_arch()
    assert simulate(arch, load_workload("kws_dscnn"), RunOptions(batch=1)).latency_cycles == 10593
    r18 = simulate(arch, load_workload("resnet18_imagenet"), RunOptions(batch=1, mode="grouped"))
    assert r18.latency_cycles == 6341787


@pytest.mark.parametrize("pool", [{"global": True}, {"kernel": 8}, {"kernel": 8, "stride": 3}])
@pytest.mark.parametrize("kind", ["avgpool", "maxpool"])
def test_small_global_pool(pool, kind):
    arch = load_arch()
    w = _small(pool, kind)
    inp = _pool_input(plan(w, arch), "pool")
    width = arch.chip.partial_sum_bits if kind == "avgpool" else arch.chip.activation_bits
    assert inp.streamed and inp.buffer_bits == 32 * width
    assert simulate(arch, w, RunOptions(batch=1)).latency_cycles == 926  # as before the change


def test_a_pool_with_a_smaller_window_keeps_its_line_buffer():
    arch = load_arch()
    for pool in ({"kernel": 4}, {"kernel": 8, "padding": 1}):
        inp = _pool_input(plan(_small(pool), arch), "pool")
        assert not inp.streamed
        rows = inp.window.window_rows(8)
        assert inp.buffer_bits == rows * row_bits((32, 8, 8), arch.chip.activation_bits)


def test_accumulators_larger_than_any_buffer_are_refused():
    w = workload_from_dict({"name": "wide", "input_shape": [40000, 2, 2], "layers": [
        {"name": "pool", "type": "avgpool", "global": True}]})
    with pytest.raises(MappingError, match="accumulators of 640,000 bits"):
        plan(w, load_arch())
