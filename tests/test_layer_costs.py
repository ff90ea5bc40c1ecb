"""What slices, embedding tables and resizing cost on the chip: reads, table traffic, row windows."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from fractions import Fraction

import pytest
from engine_helpers import assert_demand_is_engine

from accelsim.api import RunOptions, simulate
from accelsim.config import load_arch
from accelsim.engine import simulate_plan
from accelsim.mapping import RowWindow, plan
from accelsim.mapping.demand import round_demand
from accelsim.mapping.traffic import plan_traffic, store_bits
from accelsim.mapping.windows import bilinear_rows, nearest_rows
from accelsim.workload import workload_from_dict

BITS = 8  # mram72's chip.activation_bits


def _stage(p, layer: str):
    (st,) = [s for s in p.stages if s.layer == layer]
    return st


def _reads(p, tensor: str) -> int:
    return sum(t.read_bits for t in plan_traffic(p) if t.tensor == tensor)




# ---------------------------------------------------------------- 1. data-movement reads


def test_a_slice_reads_only_what_it_keeps():
    """A channel slice keeping 4 of 16 channels of 16 x 8 x 8 reads 4 x 8 x 8 elements per inference
    (each of its 64 vectors 4), not the whole input (16 per vector)."""
    arch = load_arch("mram72", ["mapping.replicate=false"])
    w = workload_from_dict({"name": "cut", "input_shape": [16, 8, 8], "layers": [
        {"name": "a", "type": "conv2d", "filters": 16, "kernel": 1},
        {"name": "s", "type": "slice", "axis": 0, "start": 4, "end": 8},
        {"name": "rows", "type": "slice", "axis": 1, "start": 1, "step": 2},
        {"name": "b", "type": "conv2d", "filters": 8, "kernel": 1}]})
    p = plan(w, arch)
    s, rows = _stage(p, "s"), _stage(p, "rows")
    assert s.vectors == 64 and s.inputs[0].bits_per_vector == 4 * BITS
    assert _reads(p, "a") == 4 * 8 * 8 * BITS  # what it moves: its output, once
    # every second row from row 1: 4 x 4 x 8 out of 4 x 8 x 8
    assert rows.vectors == 32 and rows.inputs[0].bits_per_vector == 4 * BITS
    assert _reads(p, "s") == 4 * 4 * 8 * BITS
    r = simulate(arch, w, RunOptions(batch=2))
    assert sum(r.counts_per_inference.get(k, 0) for k in ("tile_buffer_bits", "global_buffer_bits")) == \
        store_bits(p, "tile") + store_bits(p, "global")
    assert_demand_is_engine(p, arch)


@pytest.mark.parametrize(("size", "read"), [((16, 16), 8 * 8 * 8), ((4, 4), 8 * 4 * 4)])
def test_a_nearest_resize_reads_each_element_it_moves_once(size, read):
    """Upsampling 8 x 8 to 16 x 16 reads each input element once; downsampling to 4 x 4 reads the
    16 elements per channel it keeps."""
    arch = load_arch("mram72")
    w = workload_from_dict({"name": "near", "input_shape": [8, 8, 8], "layers": [
        {"name": "a", "type": "conv2d", "filters": 8, "kernel": 1},
        {"name": "up", "type": "resize_nearest", "size": list(size)},
        {"name": "b", "type": "conv2d", "filters": 8, "kernel": 1}]})
    p = plan(w, arch)
    assert _reads(p, "a") == read * BITS
    assert _stage(p, "up").inputs[0].bits_per_vector == math.ceil(read / (size[0] * size[1])) * BITS


# ---------------------------------------------------------------- 2. the embedding table

def _bert_embedding(vocabulary: int, features: int) -> dict:
    return {"name": f"embed{vocabulary}", "input_shape": [128], "layers": [
        {"name": "tok", "type": "embedding", "vocabulary": vocabulary, "features": features},
        {"name": "fc", "type": "linear", "units": 64}]}


@pytest.mark.parametrize(("vocabulary", "features", "store", "port"), [
    (1_000, 64, "global", "global buffer port"),       # 512,000 bits beside the tile-buffered tensors
    (30_522, 128, "offchip", "off-chip port"),         # 31,254,528 bits: more than the 524,288 there
])
def test_the_embedding_table_is_read_where_it_lives(vocabulary, features, store, port, write, cli):
    """128 tokens each read ``features`` values of the table: 128 x features x 8 bits per inference,
    on the port of the store holding the table, in time (the bottleneck model, the engine) and energy."""
    arch = load_arch("mram72")
    spec = _bert_embedding(vocabulary, features)
    w = workload_from_dict(spec)
    p = plan(w, arch)
    (rnd,) = p.rounds
    table = rnd.tensor("tok table")
    assert table.store == store and table.rows * table.row_bits == vocabulary * features * BITS
    read = 128 * features * BITS
    (traffic,) = [t for t in plan_traffic(p) if t.tensor == "tok table"]
    assert (traffic.store, traffic.read_bits, traffic.written_bits) == (store, read, 0)
    tok = _stage(p, "tok")
    assert tok.vectors == 128 and tok.inputs[1].bits_per_vector == features * BITS
    width = arch.chip.global_buffer_port_bits if store == "global" else arch.chip.offchip_port_bits
    demand = round_demand(rnd, arch)
    lookups = 128 * math.ceil(features * BITS / width)  # each token's features, one read step
    if store == "global":
        assert demand[port] == lookups  # nothing else lives in the global buffer
    else:  # beside the token ids read (8 bits each) and fc's output written (64 x 8 bits per token)
        assert demand[port] == lookups + 128 * (math.ceil(BITS / width) + math.ceil(64 * BITS / width))
    assert_demand_is_engine(p, arch)

    r = simulate(arch, w, RunOptions(batch=4))
    counts = r.counts_per_inference
    if store == "global":
        assert counts["global_buffer_bits"] == store_bits(p, "global") == read
        assert r.peak_buffer_bits["global buffer"] >= vocabulary * features * BITS  # the table stays there
    else:
        assert r.offchip_bits_per_inference == store_bits(p, "offchip") == 1024 + read + 128 * 64 * BITS
    f_hz = arch.clock.frequency_mhz * 1e6
    port_bits = r.offchip_bits_per_inference if store == "offchip" else counts["global_buffer_bits"]
    assert r.throughput_inferences_per_s <= f_hz * width / port_bits * (1 + 1e-9)
    assert r.throughput_inferences_per_s <= f_hz / demand[port] * (1 + 1e-9)
    e = arch.technology.energy
    table_j = read * (e.global_buffer_pj_per_bit if store == "global" else e.offchip_pj_per_bit) * 1e-12
    buffers_j = (counts.get("tile_buffer_bits", 0) * e.tile_buffer_pj_per_bit
                 + counts.get("global_buffer_bits", 0) * e.global_buffer_pj_per_bit) * 1e-12
    assert math.isclose(r.energy_breakdown_j["buffers"], buffers_j, rel_tol=1e-9)
    assert math.isclose(r.energy_breakdown_j["offchip"], r.offchip_bits_per_inference * e.offchip_pj_per_bit * 1e-12,
                        rel_tol=1e-9)
    assert (r.energy_breakdown_j["buffers"] if store == "global" else r.energy_breakdown_j["offchip"]) >= table_j

    done = cli("run", write("embed.yaml", json.dumps(spec)), "--batch", "2", "--json")
    assert done.code == 0, done.err


def test_the_table_gives_way_to_the_rounds_tensors():
    """A table that fits the global buffer alone goes off-chip when the round's tensors take the space."""
    arch = load_arch("mram72", ["chip.tile_buffer_kib=1"])  # the lookup's 65,536-bit output to the global buffer
    p = plan(workload_from_dict(_bert_embedding(1_000, 64)), arch)
    (rnd,) = p.rounds
    assert rnd.tensor("tok").store == "global" and rnd.tensor("tok table").store == "offchip"


# ---------------------------------------------------------------- 3. streaming rows

def _reference_rows(mode: str, h_in: int, h_out: int, align: bool = False) -> list[tuple[int, int]]:
    """The input rows each output row reads, from the interpolation's own definition (exact fractions)."""
    out = []
    for r in range(h_out):
        if mode == "nearest":
            src = Fraction(r * h_in, h_out)
            out.append((math.floor(src), math.floor(src) + 1))
            continue
        if align:
            src = Fraction(r * (h_in - 1), h_out - 1) if h_out > 1 else Fraction(0)
        else:
            src = max(Fraction(0), (r + Fraction(1, 2)) * Fraction(h_in, h_out) - Fraction(1, 2))
        rows = {min(h_in - 1, math.floor(src)), min(h_in - 1, math.floor(src) + 1)}
        out.append((min(rows), max(rows) + 1))
    return out


@pytest.mark.parametrize(("h_in", "h_out"), [(8, 16), (7, 16), (16, 7), (5, 5), (3, 10), (10, 1)])
def test_resize_row_windows(h_in, h_out):
    assert list(nearest_rows(h_in, h_out)) == _reference_rows("nearest", h_in, h_out)
    assert list(bilinear_rows(h_in, h_out, False)) == _reference_rows("bilinear", h_in, h_out)
    assert list(bilinear_rows(h_in, h_out, True)) == _reference_rows("bilinear", h_in, h_out, True)


def test_row_window_buffer_rows():
    """A region holds the rows up to the first output row's end, then one row ahead."""
    # a slice from row 10 (the rows below are freed as they are written): 1 row + its step 2
    assert RowWindow(stride=2, pad=-10, reach=1).buffer_rows(64, 27) == 3
    assert RowWindow(stride=2, pad=0, reach=1).buffer_rows(64, 32) == 3
    # a 3x3 convolution: 3 rows + 1, as before
    assert RowWindow(stride=1, pad=1, reach=3).buffer_rows(64, 64) == 4
    # x2 nearest upsampling: a row, and the next one when the output row moves on
    spans = nearest_rows(32, 64)
    assert RowWindow(1, 0, 1, spans).buffer_rows(32, 64) == 2
    assert RowWindow(1, 0, 1, spans).last_row_needed(5, 32) == 3 and RowWindow(1, 0, 1, spans).first_row_kept(5, 32) == 2


def _row_done(trace: list[dict], layer: str) -> dict[int, int]:
    """Cycle each output row of ``layer`` (inference 0) was written: its bookings' last end."""
    done: dict[int, int] = {}
    for e in trace:
        a = e["args"]
        if a.get("layer") == layer and a["inference"] == 0:
            done[a["row"]] = max(done.get(a["row"], 0), a["start_cycle"] + a["cycles"])
    return done


def _row_start(trace: list[dict], layer: str) -> dict[int, int]:
    start: dict[int, int] = {}
    for e in trace:
        a = e["args"]
        if a.get("layer") == layer and a["inference"] == 0:
            start[a["row"]] = min(start.get(a["row"], a["start_cycle"]), a["start_cycle"])
    return start


UNET = {"name": "unet_up", "input_shape": [16, 32, 32], "layers": [
    {"name": "c1", "type": "conv2d", "filters": 96, "kernel": 3, "padding": 1, "activation": "relu"},
    {"name": "up", "type": "resize_nearest", "size": [64, 64]},
    {"name": "c2", "type": "conv2d", "filters": 16, "kernel": 3, "padding": 1}]}

DECODER = {"name": "decoder", "input_shape": [16, 32, 32], "layers": [
    {"name": "c1", "type": "conv2d", "filters": 32, "kernel": 3, "padding": 1},
    {"name": "ct", "type": "conv_transpose2d", "filters": 32, "kernel": 2, "stride": 2},
    {"name": "bi", "type": "resize_bilinear", "size": [96, 96]},
    {"name": "c2", "type": "conv2d", "filters": 8, "kernel": 3, "padding": 1}]}

CROP = {"name": "crop", "input_shape": [16, 64, 64], "layers": [
    {"name": "c1", "type": "conv2d", "filters": 64, "kernel": 1},
    {"name": "sl", "type": "slice", "axis": 1, "start": 10, "end": 64, "step": 2},
    {"name": "c2", "type": "conv2d", "filters": 8, "kernel": 1}]}


@pytest.mark.parametrize(("spec", "producer", "consumer"), [
    (UNET, "c1", "up"), (DECODER, "ct", "bi"), (CROP, "c1", "sl")])
def test_resizes_and_row_slices_stream_through_a_line_buffer(spec, producer, consumer, write, cli):
    """The producer's output (too large to hold whole) lives in a window of a few rows; each output
    row of the resize (slice) starts only once the input rows it reads are written, and the first one
    long before the producer's last; no deadlock at batch 2, and the bottleneck model is the engine."""
    arch = load_arch("mram72")
    w = workload_from_dict(spec)
    p = plan(w, arch)
    (rnd,) = p.rounds
    st = _stage(p, consumer)
    (inp,) = st.inputs
    place = rnd.tensor(producer)
    assert place.store != "offchip" and place.capacity_rows == inp.window.buffer_rows(place.rows, st.out_rows)
    assert place.capacity_rows < place.rows
    assert_demand_is_engine(p, arch)

    trace = list(simulate_plan(p, arch, replace(RunOptions(batch=1), trace_max_events=1_000_000)).trace)
    done, start = _row_done(trace, producer), _row_start(trace, consumer)
    for r in range(st.out_rows):
        need = inp.window.last_row_needed(r, place.rows)
        assert start[r] >= done[need - 1], (r, need)
    assert start[0] < done[place.rows - 1]  # it streams: it did not wait for the whole input

    result = simulate(arch, w, RunOptions(batch=2))
    assert result.executed_macs >= w.total_macs
    done_cli = cli("run", write(f"{spec['name']}.yaml", json.dumps(spec)), "--batch", "2", "--json")
    assert done_cli.code == 0, done_cli.err
