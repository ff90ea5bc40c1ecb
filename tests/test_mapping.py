"""Mapping: tiles, replicas, rounds, depthwise choice, buffer limits."""

from __future__ import annotations

import math

import pytest

from accelsim.config import load_arch
from accelsim.errors import MappingError
from accelsim.mapping import MacroTile, Replica, RowWindow, StageInput, plan
from accelsim.mapping.deal import RowShare, deal, next_first_replica, row_shares
from accelsim.mapping.demand import bottleneck, replica_shares, round_demand
from accelsim.workload import load_workload, workload_from_dict


def test_kws_fits_one_round_and_pointwise_is_one_macro():
    p = plan(load_workload("kws_dscnn"), load_arch("mram72", ["mapping.replicate=false"]))
    assert len(p.rounds) == 1
    pw1 = p.layer("pw1")
    assert (pw1.unit, pw1.weight_tiles, pw1.macros, pw1.cell_utilization) == ("macros", 1, 1, 1.0)
    assert p.layer("conv1").cell_utilization == pytest.approx(40 / 64)
    assert p.layer("dw1").unit == "digital"


def test_depthwise_on_macros_is_block_diagonal():
    p = plan(load_workload("kws_dscnn"), load_arch("mram72", ["mapping.depthwise=macro",
                                                             "mapping.replicate=false"]))
    dw = p.layer("dw1")
    # 3x3 kernels: 64 // 9 = 7 channels per 64-row macro -> ceil(64 / 7) = 10 blocks
    assert (dw.unit, dw.weight_tiles) == ("macros", math.ceil(64 / (64 // 9)))
    assert dw.cell_utilization == pytest.approx(576 / (10 * 64 * 64))


def test_no_replica_where_the_bus_bounds_the_round():
    """kws_dscnn on mram72: the 64-bit bus bounds the round; a replica cannot relieve it, so none is added."""
    arch = load_arch()
    p = plan(load_workload("kws_dscnn"), arch)
    name, _ = bottleneck(round_demand(p.rounds[0], arch))
    assert name == "bus"
    assert max(m.replicas for m in p.layers) == 1
    assert p.macros_used == 6


WIDE_PORTS = ["chip.tile_buffer_port_bits=1024", "chip.global_buffer_port_bits=1024",
              "chip.offchip_port_bits=1024", "chip.digital_ops_per_cycle=1024"]
POINTWISE = {"name": "pointwise", "input_shape": [64, 8, 8], "layers": [
    {"name": "c1", "type": "conv2d", "filters": 64, "kernel": 1},
    {"name": "c2", "type": "conv2d", "filters": 64, "kernel": 1},
    {"name": "c3", "type": "conv2d", "filters": 64, "kernel": 1}]}


def test_replicas_of_macro_bound_stages_stay_local():
    """With a wide bus the macros (640 cycles per inference each) bound the round.

    c1 fills its own tile's spare macros: no new traffic. A copy of c2 goes to
    its home tile, or when that is full to tile 0, where its input lives (it
    then sends its output over the bus instead of its input). A copy of c3 goes
    to its home tile or to tile 1, where its input lives: there it reads
    locally and only its output (to off-chip memory either way) crosses the bus.
    The bus never carries more than without replicas, and the bound falls 3x.
    """
    wide = [*WIDE_PORTS, "interconnect.link_width_bits=1024"]
    arch = load_arch("mram72", wide)
    p = plan(workload_from_dict(POINTWISE), arch)
    c1, c2, c3 = p.stages
    assert [c.home_tile for c in p.stages] == [0, 1, 2]
    assert {t.tile for r in c1.replicas for t in r.tiles} == {0}
    assert c2.replicas[1].home_tile == 1 and {t.tile for r in c2.replicas for t in r.tiles} <= {0, 1}
    assert {t.tile for r in c3.replicas for t in r.tiles} <= {1, 2}
    assert min(len(c.replicas) for c in p.stages) > 2
    macros = [m for s in p.stages for m in s.macros]
    assert len(macros) == len(set(macros))
    single = plan(workload_from_dict(POINTWISE), load_arch("mram72", [*wide, "mapping.replicate=false"]))
    alone = round_demand(single.rounds[0], arch)
    assert bottleneck(alone) == ("c3 replica 0", 640)
    demand = round_demand(p.rounds[0], arch)
    assert demand["bus"] <= alone["bus"] == 4 * 64
    assert bottleneck(demand)[1] < 640 / 3


def test_a_replica_on_the_producers_tile_takes_the_input_off_the_bus():
    """64-bit bus: c2 reads c1's output from tile 0; a copy of c2 on tile 0 reads it locally, and
    its output leaves for off-chip memory over the bus either way, so each such copy halves
    the bus cycles of its vectors."""
    two = {**POINTWISE, "layers": POINTWISE["layers"][:2]}
    arch = load_arch("mram72", WIDE_PORTS)
    p = plan(workload_from_dict(two), arch)
    c1, c2 = p.stages
    assert (c1.home_tile, c2.home_tile) == (0, 1)
    assert len(c1.replicas) == 1 and [r.home_tile for r in c2.replicas] == [1] + [0] * 7
    # c1: 64 vectors x 8 cycles in; c2: 8 vectors in + out on replica 0, 56 only out
    assert round_demand(p.rounds[0], arch)["bus"] == 64 * 8 + 8 * 16 + 56 * 8


def test_replica_shares_follow_the_engines_deal():
    """Rows of 5 vectors on 2 copies: the first row 3 + 2, the next 2 + 3 (the deal goes on)."""
    assert row_shares(5, 2, 0) == [RowShare(0, 0, 3), RowShare(1, 3, 2)]
    assert row_shares(5, 2, 1) == [RowShare(1, 0, 3), RowShare(0, 3, 2)]
    assert row_shares(2, 3, 2) == [RowShare(2, 0, 1), RowShare(0, 1, 1)]
    assert next_first_replica(5, 2, 0) == 1
    assert replica_shares(2, 5, 2) == ((2, 3), (2, 3))
    assert replica_shares(1, 5, 2) == ((1, 2), (1, 1))
    assert replica_shares(3, 1, 4) == ((1, 0), (1, 0), (1, 0), (0, 0))
    assert replica_shares(4, 8, 1) == ((4, 28),)


def test_deal_gives_every_vector_the_replica_and_kind_of_the_engines_row_shares():
    """The vectorised deal (the demand model's and the analog path's) against the engine's rows."""
    for replicas, vpr in [(1, 5), (2, 5), (3, 5), (4, 2), (3, 9), (7, 3), (4, 8)]:
        rep, loads, first = [], [], 0
        for _ in range(6):  # six rows, continuing across rows as the engine does
            row, load = [None] * vpr, [None] * vpr
            for sh in row_shares(vpr, replicas, first):
                for c in range(sh.first_column, sh.first_column + sh.vectors):
                    row[c], load[c] = sh.replica, c == sh.first_column
            rep.append(row)
            loads.append(load)
            first = next_first_replica(vpr, replicas, first)
        d = deal(6, vpr, replicas)
        assert d.replica.tolist() == rep and d.loads.tolist() == loads, (replicas, vpr)
        # a block of rows further down the stream (a later chunk of samples) sees the same deal
        later = deal(4, vpr, replicas, first_row=2)
        assert later.replica.tolist() == rep[2:] and later.loads.tolist() == loads[2:]
        counts = [(sum(r == k and ld for rr, ll in zip(rep, loads) for r, ld in zip(rr, ll)),
                   sum(r == k and not ld for rr, ll in zip(rep, loads) for r, ld in zip(rr, ll)))
                  for k in range(replicas)]
        assert d.per_replica() == tuple(counts)


def test_resnet_needs_programming_rounds_and_splits_wide_layers():
    arch = load_arch()
    p = plan(load_workload("resnet18_imagenet"), arch)
    assert len(p.rounds) > 1
    assert all(r.macros_used <= arch.chip.macros for r in p.rounds)
    assert p.layer("layer4_1_conv2").parts == 512 // 64  # 72 row tiles per column: one column per round
    bits = sum(pr.bits for r in p.rounds for pr in r.programs)
    assert bits >= load_workload("resnet18_imagenet").total_weights * arch.macro.weight_bits


def test_line_buffer_larger_than_any_buffer_names_layer_and_limit():
    arch = load_arch("mram72", ["chip.tile_buffer_kib=0.5", "chip.global_buffer_kib=0.5"])
    with pytest.raises(MappingError) as err:
        plan(load_workload("kws_dscnn"), arch)
    assert "'dw1'" in str(err.value) and "4,096 bits" in str(err.value)


def test_a_column_taller_than_the_chip_is_split_along_k():
    w = workload_from_dict({"name": "tall", "input_shape": [100000],
                            "layers": [{"name": "fc", "type": "linear", "units": 4}]})
    p = plan(w, load_arch("mram72", ["chip.global_buffer_kib=1024"]))
    # 100,000 rows / 64 rows per macro = 1,563 row tiles, 72 macros per round: 22 parts
    assert p.layer("fc").parts == 22 and {s.k_parts for s in p.stages} == {22}


def test_block_diagonal_slide_renews_one_kernel_column_per_channel():
    """3x3 depthwise on macros: 7 channels per macro, each renews 3 of its 9 taps per slide."""
    arch = load_arch("mram72", ["mapping.depthwise=macro", "mapping.replicate=false"])
    dw = next(s for s in plan(load_workload("kws_dscnn"), arch).stages if s.layer == "dw1")
    tiles = dw.replicas[0].tiles
    assert [t.slide_rows for t in tiles] == [t.rows_used // 3 for t in tiles] == [21] * 9 + [3]
    assert dw.inputs[0].bits_per_vector == 9 * 64 * 8
    assert dw.inputs[0].slide_bits_per_vector == 3 * 64 * 8


def test_input_reuse_none_and_pointwise_layers_renew_every_row():
    p = plan(load_workload("kws_dscnn"), load_arch("mram72", ["mapping.input_reuse=none"]))
    for st in p.stages:
        assert all(i.slide_bits_per_vector == i.bits_per_vector for i in st.inputs)
        assert all(t.slide_rows == t.rows_used for r in st.replicas for t in r.tiles)
    pw1 = next(s for s in plan(load_workload("kws_dscnn"), load_arch()).stages if s.layer == "pw1")
    assert pw1.inputs[0].slide_bits_per_vector == pw1.inputs[0].bits_per_vector  # 1x1: nothing shared


def test_plan_records_keep_their_earlier_constructors():
    """Code that builds or reads MacroTile/StageInput as before keeps working (no reuse recorded)."""
    tile = MacroTile(3, 0, 40, 64, 0, 2560)
    assert (tile.slide_rows, tile.input_rows(first_of_row=False)) == (None, 40)
    inp = StageInput("x", RowWindow(1, 0, 3), 320)
    assert inp.read_bits(first_of_row=False) == 320


def test_a_replica_sends_each_input_slice_once_per_tile_and_each_tile_its_own_partial_sums():
    """Two macros of chip tile 0 share input slice 0 (one transfer of its rows), a third macro on
    tile 1 takes slice 1; partial sums go per used weight column, summed per chip tile."""
    tiles = (MacroTile(macro=0, tile=0, rows_used=64, weight_columns_used=32, input_slice=0, weights=2048,
                       slide_rows=16),
             MacroTile(macro=1, tile=0, rows_used=64, weight_columns_used=8, input_slice=0, weights=512,
                       slide_rows=16),
             MacroTile(macro=8, tile=1, rows_used=10, weight_columns_used=32, input_slice=1, weights=320))
    rep = Replica(tiles=tiles, home_tile=0)
    assert rep.input_bits_by_tile(True, 8) == {0: 64 * 8, 1: 10 * 8}
    assert rep.input_bits_by_tile(False, 8) == {0: 16 * 8, 1: 10 * 8}  # slice 1 has no slide reuse
    assert rep.psum_bits_by_tile(16) == {0: (32 + 8) * 16, 1: 32 * 16}
    assert list(Replica(tiles=tiles[::-1], home_tile=1).input_bits_by_tile(True, 8)) == [0, 1]  # tile order


@pytest.mark.parametrize("name", ["resnet18_imagenet", "resnet18_cifar10"])
def test_a_layer_split_over_rounds_adds_up_to_the_whole_layer(name):
    """Each column part of a layer split across programming rounds does its share of the layer's
    MACs, digital work and output: over the parts they sum to the layer's (a part once counted
    every row tile's columns, so a 9-row-tile layer did 9/8 of its work in each of 8 parts)."""
    workload = load_workload(name)
    p = plan(workload, load_arch("mram72", ["mapping.replicate=false"]))
    whole = plan(workload, load_arch("mram72", ["chip.tiles=512", "chip.macros=4096",
                                                "mapping.replicate=false"]))  # one round
    assert len(p.rounds) > 1 and len(whole.rounds) == 1
    one = {s.layer: s for s in whole.rounds[0].stages}
    split = {}
    for r in p.rounds:
        for s in r.stages:
            split.setdefault(s.layer, []).append(s)
    multi = [layer for layer, parts in split.items() if len(parts) > 1]
    assert multi  # the network has layers split over rounds
    for layer in multi:
        parts, ref = split[layer], one[layer]
        assert sum(s.macs for s in parts) == pytest.approx(ref.macs, abs=len(parts))
        assert sum(s.digital_ops for s in parts) == pytest.approx(ref.digital_ops, abs=len(parts))
        assert sum(s.output_bits_per_vector for s in parts) == ref.output_bits_per_vector


@pytest.mark.parametrize("hw, kernel, pad, extra", [(6, 2, 0, 0), (5, 3, 1, 2)])
def test_a_layer_reading_a_transposed_convolution_runs(hw, kernel, pad, extra):
    """A conv_transpose2d's vectors (one per input pixel) are spread over its output's rows, so
    that a consumer waiting for those rows is served: the run ends. When the pixels do not divide
    into the rows, each row books the rounded-up share: ``extra`` vectors more than the layer's."""
    from accelsim.api import simulate
    from accelsim.config.options import RunOptions

    w = workload_from_dict({"name": "dec", "input_shape": [16, hw, hw], "layers": [
        {"name": "up", "type": "conv_transpose2d", "filters": 8, "kernel": kernel, "stride": 2, "padding": pad},
        {"name": "post", "type": "conv2d", "filters": 8, "kernel": 3, "padding": 1}]})
    up = w.layer("up")
    rows = up.out_shape[1]
    assert rows * math.ceil(up.vectors / rows) - up.vectors == extra
    r = simulate(load_arch("mram72"), w, RunOptions(batch=2))
    assert r.workload_macs == w.total_macs
    assert r.executed_macs == w.total_macs + extra * up.k * up.n
