"""Streaming on the default chip: K split across rounds with partial sums kept, tensors spilled off-chip."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from engine_helpers import assert_demand_is_engine

from accelsim.accuracy import reference
from accelsim.accuracy.analog import build_chip, chip_matmul, ideal_arch
from accelsim.accuracy.dataset import builtin_kws_test_set, load_feature_set
from accelsim.accuracy.weights import load_weights
from accelsim.api import RunOptions, simulate
from accelsim.config import load_arch
from accelsim.engine import simulate_plan
from accelsim.errors import MappingError
from accelsim.mapping import plan
from accelsim.mapping.planner import row_bits
from accelsim.mapping.streaming import for_batch
from accelsim.mapping.traffic import plan_traffic, store_bits
from accelsim.units import BITS_PER_KIB
from accelsim.workload import load_workload, workload_from_dict

VGG_HEAD = {"name": "vgg_head", "input_shape": [512, 7, 7], "layers": [
    {"name": "flatten", "type": "flatten"},
    {"name": "fc6", "type": "linear", "units": 4096, "activation": "relu"},
    {"name": "fc7", "type": "linear", "units": 4096, "activation": "relu"},
    {"name": "fc8", "type": "linear", "units": 1000}]}

#: a 1x1 stem makes the block's 256 x 56 x 56 input on chip, where it is kept for the add
BOTTLENECK = {"name": "bottleneck", "input_shape": [64, 56, 56], "layers": [
    {"name": "stem", "type": "conv2d", "filters": 256, "kernel": 1, "bias": False, "batch_norm": True,
     "activation": "relu"},
    {"name": "conv1", "type": "conv2d", "filters": 64, "kernel": 1, "bias": False, "batch_norm": True,
     "activation": "relu"},
    {"name": "conv2", "type": "conv2d", "filters": 64, "kernel": 3, "padding": 1, "bias": False,
     "batch_norm": True, "activation": "relu"},
    {"name": "conv3", "type": "conv2d", "filters": 256, "kernel": 1, "bias": False, "batch_norm": True},
    {"name": "add", "type": "add", "inputs": ["conv3", "stem"], "activation": "relu"}]}

INCEPTION = {"name": "inception", "input_shape": [64, 56, 56], "layers": [
    {"name": "b1", "type": "conv2d", "inputs": "input", "filters": 128, "kernel": 1, "activation": "relu"},
    {"name": "b2", "type": "conv2d", "inputs": "input", "filters": 128, "kernel": 3, "padding": 1,
     "activation": "relu"},
    {"name": "cat", "type": "concat", "inputs": ["b1", "b2"], "axis": 0},
    {"name": "proj", "type": "conv2d", "filters": 64, "kernel": 1}]}


def _yaml(write, data: dict):
    return write(f"{data['name']}.yaml", json.dumps(data))  # JSON is YAML


def _stages(p, layer: str):
    return [s for s in p.stages if s.layer == layer]


def _check_run(r, arch, workload) -> None:
    """What every streamed run must show: MACs unchanged, energy adding up, throughput under the
    off-chip port's bound."""
    assert r.executed_macs == workload.total_macs
    assert math.isclose(sum(r.energy_breakdown_j.values()), r.energy_per_inference_j, rel_tol=1e-12)
    assert sum(r.latency_breakdown.values()) == r.latency_cycles
    f_hz = arch.clock.frequency_mhz * 1e6
    assert r.throughput_inferences_per_s <= f_hz * arch.chip.offchip_port_bits / r.offchip_bits_per_inference
    assert r.throughput_inferences_per_s <= r.throughput_bound_inferences_per_s * (1 + 1e-9)




def test_vgg_head_splits_k_across_rounds(write, cli):
    """fc6 (25,088 x 4,096): a column needs R = 392 row tiles of 64 rows, more than the 72 macros,
    so each of its C = 64 column groups is cut into P = ceil(392 / 72) = 6 parts along K."""
    arch = load_arch()
    w = workload_from_dict(VGG_HEAD)
    p = plan(w, arch)
    fc6 = _stages(p, "fc6")
    R, C, P = 392, 64, 6
    assert len(fc6) == C * P and {s.k_parts for s in fc6} == {P}
    assert all(len(s.macros) <= arch.chip.macros for s in fc6)
    assert sorted({len(s.macros) for s in fc6}) == [65, 66]  # balanced: 392 = 2 x 65 + 4 x 66
    assert sum(s.macs for s in fc6) == 25088 * 4096 == p.layer("fc6").macs
    assert {len(_stages(p, "fc7")), len(_stages(p, "fc8"))} == {64, 16}  # columns fit: no K split
    assert all(s.k_parts == 1 and not s.psum_output for s in _stages(p, "fc7") + _stages(p, "fc8"))
    # each part reads only its rows of the input: the input once per column group
    assert sum(s.inputs[0].bits_per_vector for s in fc6) == C * 25088 * arch.chip.activation_bits
    # partial sums: every part but the last writes, every part but the first reads, 64 columns x 16 bits
    b, N, V = arch.chip.partial_sum_bits, 4096, 1
    psum = [t for t in plan_traffic(p) if t.partial_sums]
    assert sum(t.written_bits for t in psum) == sum(t.read_bits for t in psum) == N * (P - 1) * b * V == 327_680
    assert {t.store for t in psum} == {"global"}  # a batch's partial sums fit: 4 x 1,024 bits per part
    # digital additions: the row tiles' partial sums of a column, N x (R - 1) per vector, over all the
    # parts (N x (P - 1) of them the partial sums read back), plus bias and activation
    layer = next(x for x in w.layers if x.name == "fc6")
    assert sum(s.digital_ops for s in fc6) == N * (R - 1) * V + layer.digital_ops
    assert sum(i.bits_per_vector for s in fc6 for i in s.inputs if i.partial_sums) == N * (P - 1) * b

    r = simulate(arch, w, RunOptions(batch=4))
    _check_run(r, arch, w)
    assert r.rounds == len(p.rounds) == 1 + C * P + 64 + 16
    assert r.counts_per_inference["global_buffer_bits"] == 2 * 327_680  # the partial sums only
    # in time: each part's 1,024 bits take ceil(1,024 / 128) = 8 cycles of the global buffer port, read
    # and written by C x (P - 1) parts each; the bottleneck model and the utilisation show them
    port = arch.chip.global_buffer_port_bits
    assert r.bottleneck.resource("global buffer port").busy_cycles_per_inference == 2 * C * (P - 1) * 1024 // port
    assert r.resource_utilization["global buffer port"] > 0
    assert r.offchip_bits_per_inference == store_bits(p, "offchip")
    assert r.programming_cycles > 0 and r.energy_breakdown_j["mram_programming"] > 0
    assert_demand_is_engine(p, arch)

    done = cli("run", _yaml(write, VGG_HEAD), "--json", "--batch", "1")
    assert done.code == 0, done.err
    assert json.loads(done.out)["executed_macs"] == w.total_macs


def test_partial_sums_go_off_chip_when_the_batch_does_not_fit():
    """With a 1 KiB global buffer, 4 inferences' partial sums (4 x 1,024 bits read and 4 x 1,024 written
    per round) fit, 9 inferences' (9,216 bits) do not: the same 655,360 bits per inference move through
    the off-chip port instead, and only they."""
    arch4 = load_arch("mram72", ["chip.global_buffer_kib=1", "simulation.batch=4"])
    arch9 = load_arch("mram72", ["chip.global_buffer_kib=1", "simulation.batch=9"])
    w = workload_from_dict(VGG_HEAD)
    kept, spilled = plan(w, arch4), plan(w, arch9)
    assert {t.store for t in plan_traffic(kept) if t.partial_sums} == {"global"}
    assert {t.store for t in plan_traffic(spilled) if t.partial_sums} == {"offchip"}
    r4, r9 = simulate(arch4, w), simulate(arch9, w)
    assert r9.offchip_bits_per_inference - r4.offchip_bits_per_inference == 655_360
    assert r4.counts_per_inference["global_buffer_bits"] == 655_360
    assert "global_buffer_bits" not in r9.counts_per_inference
    e = arch4.technology.energy
    extra = r9.energy_breakdown_j["offchip"] - r4.energy_breakdown_j["offchip"]
    assert math.isclose(extra, 655_360 * e.offchip_pj_per_bit * 1e-12, rel_tol=1e-9)
    for r, a in ((r4, arch4), (r9, arch9)):
        _check_run(r, a, w)
    # a plan made for 4 inferences run with 9: its kept partial sums go off-chip, in every round alike
    assert all(t.store == "offchip" for t in plan_traffic(for_batch(kept, 9)) if t.partial_sums)
    assert for_batch(kept, 3) is kept
    r = simulate(arch4, w, RunOptions(batch=9))
    assert r.offchip_bits_per_inference == r9.offchip_bits_per_inference
    assert r.bottleneck.resource("off-chip port").busy_cycles_per_inference == \
        r9.bottleneck.resource("off-chip port").busy_cycles_per_inference
    _check_run(r, arch4, w)


def test_a_column_taller_than_the_chip_is_split():
    """K = 100,000 on 64-row macros: 1,563 row tiles in P = 22 parts of 71 or 72 macros."""
    w = workload_from_dict({"name": "tall", "input_shape": [100000],
                            "layers": [{"name": "fc", "type": "linear", "units": 4}]})
    arch = load_arch()
    p = plan(w, arch)
    parts = _stages(p, "fc")
    assert len(parts) == 22 and sorted({len(s.macros) for s in parts}) == [71, 72]
    assert sum(s.macs for s in parts) == 400_000
    psum = [t for t in plan_traffic(p) if t.partial_sums]
    assert sum(t.written_bits for t in psum) == 4 * 21 * arch.chip.partial_sum_bits
    r = simulate(arch, w, RunOptions(batch=2))
    _check_run(r, arch, w)
    assert_demand_is_engine(p, arch)


def test_bottleneck_block_spills_its_residual(write, cli):
    """The stem's 256 x 56 x 56 output (6,422,528 bits) is kept for the add and read by conv1: two
    consumers need it whole, more than the 524,288-bit global buffer, so it goes off-chip: written
    once, its size, and read once by each consumer."""
    arch = load_arch()
    w = workload_from_dict(BOTTLENECK)
    p = plan(w, arch)
    (rnd,) = p.rounds
    size = 256 * 56 * 56 * arch.chip.activation_bits
    assert size == 6_422_528 > arch.chip.global_buffer_kib * BITS_PER_KIB
    assert rnd.tensor("stem").store == "offchip"
    traffic = {t.tensor: t for t in plan_traffic(p)}
    assert traffic["stem"].written_bits == size and traffic["stem"].read_bits == 2 * size
    # off-chip: the network input read (1x1 stem), the spilled residual, the block's output written
    expected = 64 * 56 * 56 * 8 + 3 * size + size
    assert store_bits(p, "offchip") == expected
    r = simulate(arch, w, RunOptions(batch=2))
    assert r.offchip_bits_per_inference == expected
    _check_run(r, arch, w)
    assert_demand_is_engine(p, arch)
    assert r.resource_utilization["off-chip port"] > 0
    done = cli("run", _yaml(write, BOTTLENECK), "--batch", "1", "--mode", "grouped", "--quiet")
    assert done.code == 0, done.err


def test_concat_inputs_larger_than_the_buffers_stream_off_chip():
    """A concat needs its inputs whole: each branch (128 x 56 x 56, 3,211,264 bits) was a line buffer
    larger than any buffer, refused; now each is spilled, written and read back once."""
    arch = load_arch()
    w = workload_from_dict(INCEPTION)
    branch = 128 * 56 * 56 * arch.chip.activation_bits
    assert 56 * row_bits((128, 56, 56), arch.chip.activation_bits) == branch > arch.chip.global_buffer_kib * BITS_PER_KIB
    p = plan(w, arch)
    traffic = {t.tensor: t for t in plan_traffic(p)}
    for name in ("b1", "b2"):
        assert traffic[name].store == "offchip"
        assert traffic[name].written_bits == traffic[name].read_bits == branch
    r = simulate(arch, w, RunOptions(batch=1))
    assert r.offchip_bits_per_inference == store_bits(p, "offchip")
    _check_run(r, arch, w)


def test_what_no_streaming_can_do_is_refused(write, cli):
    """A 3x3 max-pool over 8,192 channels: one output position needs a window of 9 x 8,192 activations
    (589,824 bits) at once, more than the 524,288-bit global buffer."""
    data = {"name": "wide_pool", "input_shape": [8192, 4, 4], "layers": [
        {"name": "pool", "type": "maxpool", "kernel": 3, "padding": 1}]}
    with pytest.raises(MappingError) as err:
        plan(workload_from_dict(data), load_arch())
    msg = str(err.value)
    assert "'pool'" in msg and "'input'" in msg and "589,824 bits" in msg and "524,288 bits" in msg
    r = cli("run", _yaml(write, data))
    assert r.code == 1 and "589,824 bits" in r.err


def test_a_row_of_a_data_movement_input_larger_than_the_buffers_is_refused():
    data = {"name": "long", "input_shape": [70000], "layers": [
        {"name": "shape", "type": "reshape", "shape": [70000, 1]}]}
    with pytest.raises(MappingError, match=r"'shape'.*one row of 'input' of 560,000 bits"):
        plan(workload_from_dict(data), load_arch())


#: a two-macro chip of 16 x 16 macros: every kws_dscnn layer on macros needs more row tiles than it has
TINY = ["macro.rows=16", "macro.columns=16", "macro.adc.count=16", "chip.tiles=1", "chip.macros_per_tile=2",
        "chip.macros=2"]


def test_split_convolutions_compute_exactly_and_stream_their_windows():
    """kws_dscnn on two macros: conv1 (K = 40) and the pointwise layers (K = 64) are split along K into
    2 parts of at most 2 row tiles; ideal macros give the reference network's integers exactly, and the
    sliding-window reads of each part (its rows' renewed activations) are the engine's."""
    workload = load_workload("kws_dscnn")
    arch = ideal_arch(load_arch("mram72", TINY))
    p = plan(workload, arch)
    split = {s.layer for s in p.stages if s.k_parts > 1}
    assert split == {"conv1", "pw1", "pw2", "pw3", "pw4", "fc"}
    for layer in workload.layers:
        if layer.name in split:
            assert sum(s.macs for s in _stages(p, layer.name)) == layer.macs
    weights = load_weights(workload)
    x = load_feature_set(builtin_kws_test_set()).features.astype(np.float32)[:16]
    chip = build_chip(arch, workload, weights, tile_plan=p)
    got = reference.forward(workload, weights, x, "quantised", chip_matmul(chip, False, 0, len(x), 0))
    np.testing.assert_array_equal(got, reference.forward(workload, weights, x))
    engine = simulate_plan(p, arch, RunOptions(batch=1))
    assert engine.counts["offchip_bits"] == store_bits(p, "offchip")
    assert engine.counts["global_buffer_bits"] == store_bits(p, "global")
    assert engine.counts["tile_buffer_bits"] == store_bits(p, "tile")
    assert_demand_is_engine(p, arch)


def test_a_line_buffer_window_larger_than_the_buffers_spills():
    """A 3x3 convolution over a 256 x 8 x 224 map needs a window of 3 rows of 458,752 bits, more than the
    global buffer (refused before); its input is spilled and read back as the sliding window reads it:
    rows x (K + (W - 1) x S) x 8 bits with K = 9 x 256 and S = 3 x 256 (one new kernel column per step)."""
    arch = load_arch("mram72", ["mapping.replicate=false"])
    data = {"name": "wide_rows", "input_shape": [16, 8, 224], "layers": [
        {"name": "stem", "type": "conv2d", "filters": 256, "kernel": 1, "activation": "relu"},
        {"name": "conv", "type": "conv2d", "filters": 64, "kernel": 3, "padding": 1, "activation": "relu"}]}
    w = workload_from_dict(data)
    row = row_bits((256, 8, 224), arch.chip.activation_bits)
    assert 3 * row == 1_376_256 > arch.chip.global_buffer_kib * BITS_PER_KIB
    p = plan(w, arch)
    stem = {t.tensor: t for t in plan_traffic(p)}["stem"]
    assert stem.store == "offchip" and stem.written_bits == 8 * row
    assert stem.read_bits == 8 * (9 * 256 + 223 * 3 * 256) * arch.chip.activation_bits
    r = simulate(arch, w, RunOptions(batch=1))
    assert r.offchip_bits_per_inference == store_bits(p, "offchip")
    _check_run(r, arch, w)
