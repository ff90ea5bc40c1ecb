"""Systems whose chips differ in macros per tile (docs/systems.md, Chips of different sizes): the system
numbers its tiles and macros chip by chip, each tile holding its own chip's macros; a round on a chip
groups its macros into that chip's tiles, so the partial sums a stage sends between its tiles are its
chip's; each chip's counts are those of its own kind of chip; the reports and the mapping search name
each macro's tile on its own chip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.api import RunOptions, simulate
from accelsim.config.system import load_system
from accelsim.mapping import plan as make_plan
from accelsim.mapping.system import on_system
from accelsim.workload import workload_from_dict

LINKS = {"topology": "ring", "link": {"bandwidth_gbps": 256, "latency_ns": 2, "pj_per_bit": 0.5},
         "reprogramming": True}
#: four one-macro tiles, and the same four macros in two tiles of two
SPREAD = {"chip.tiles": 4, "chip.macros_per_tile": 1, "chip.macros": 4}
PAIRED = {"chip.tiles": 2, "chip.macros_per_tile": 2, "chip.macros": 4}
#: an ADC one bit narrower: a chip of the same layout that makes the system one of different chips, so
#: the run keeps each chip's counts, with the same counts as the chip it copies
OTHER = {"macro.adc.bits": 5}
#: two 128 x 128 layers: four macros each (two K pieces of two column groups), one chip each
TWO = {"name": "two", "input_shape": [128], "layers": [
    {"name": "fc0", "type": "linear", "units": 128}, {"name": "fc1", "type": "linear", "units": 128}]}


def _system(where: Path, chips, name="tiled"):
    path = where / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "arch": "mram72", "chips": chips, **LINKS}, sort_keys=False))
    return path


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 6), st.integers(1, 6)), min_size=2, max_size=5))
def test_every_macro_is_in_a_tile_of_its_own_chip(tmp_path_factory, sizes):
    """Chips of (tiles, macros per tile): the macros and tiles are numbered chip by chip, and macro m of
    chip c is in tile base_c + (m - macro base_c) // macros_per_tile_c."""
    if len({p for _, p in sizes}) == 1:
        sizes = sizes[:-1] + [(sizes[-1][0], sizes[-1][1] + 1)]  # chips of different macros per tile
    chips = [{"set": {"chip.tiles": t, "chip.macros_per_tile": p, "chip.macros": t * p}} for t, p in sizes]
    arch = load_system(_system(tmp_path_factory.mktemp("s"), chips))
    assert arch.sized_apart
    assert arch.total_tiles == sum(t for t, _ in sizes) and arch.total_macros == sum(t * p for t, p in sizes)
    seen = {}
    for m in range(arch.total_macros):
        c, tile = arch.chip_of_macro(m), arch.tile_of_macro(m)
        assert arch.macro_base(c) <= m < arch.macro_base(c) + arch.chip_macros(c)
        assert arch.chip_of_tile(tile) == c
        seen[tile] = seen.get(tile, 0) + 1
    assert [seen[t] for t in range(arch.total_tiles)] == [p for t, p in sizes for _ in range(t)]


def _run(tmp_path, chips, name, batch=1):
    arch = load_system(_system(tmp_path, chips, name))
    return arch, simulate(arch, workload_from_dict(TWO), RunOptions(batch=batch))


def test_a_stage_groups_its_macros_into_its_own_chips_tiles(tmp_path):
    arch = load_system(_system(tmp_path, [{"set": SPREAD}, {"set": PAIRED}]))
    p = on_system(make_plan(workload_from_dict(TWO), arch), arch)
    tiles = {st.layer: [(t.macro, t.tile) for rep in st.replicas for t in rep.tiles]
             for rnd in p.rounds for st in rnd.stages}
    assert tiles == {"fc0": [(0, 0), (1, 1), (2, 2), (3, 3)], "fc1": [(4, 4), (5, 4), (6, 5), (7, 5)]}
    assert all(arch.tile_of_macro(m) == t for pairs in tiles.values() for m, t in pairs)


def test_each_chip_counts_what_its_own_kind_of_chip_counts(tmp_path):
    """fc0 runs on chip 0 and fc1 on chip 1. Chip 0 of [spread, paired] counts what chip 0 of [spread,
    spread] counts, and its chip 1 what chip 1 of [paired, paired] counts. On the spread chip, fc1's
    three tiles besides its home tile send their macros' partial sums to it; on the paired chip one tile
    does, with two macros' (docs/configuration.md, chip.partial_sum_bits): the on-chip traffic differs
    by one macro's 64 partial sums of 16 bits, and nothing else does."""
    _, mixed = _run(tmp_path, [{"set": SPREAD}, {"set": PAIRED}], "mixed")
    _, spread = _run(tmp_path, [{"set": SPREAD}, {"set": {**SPREAD, **OTHER}}], "spread")
    arch, paired = _run(tmp_path, [{"set": {**PAIRED, **OTHER}}, {"set": PAIRED}], "paired")
    assert [c.layers for c in mixed.system.per_chip] == [("fc0",), ("fc1",)]
    assert mixed.system.per_chip[0].counts_per_inference == spread.system.per_chip[0].counts_per_inference
    assert mixed.system.per_chip[1].counts_per_inference == paired.system.per_chip[1].counts_per_inference
    a, b = spread.system.per_chip[1].counts_per_inference, mixed.system.per_chip[1].counts_per_inference
    psum = 64 * arch.chip.partial_sum_bits  # one macro's partial sums; one hop on the chip's bus
    assert {k: v - b[k] for k, v in a.items() if v != b[k]} == {"link_bit_hops": psum}
    # a chain of two rounds: each chip adds its own round's time
    assert spread.latency_cycles - mixed.latency_cycles == mixed.latency_cycles - paired.latency_cycles > 0
    assert mixed.macros_by_tile == (1, 1, 1, 1, 2, 2) and spread.macros_by_tile == () == paired.macros_by_tile


def test_the_utilisation_grid_has_each_tiles_own_macros(tmp_path):
    from accelsim.report.plots import utilization_grid

    _, r = _run(tmp_path, [{"set": SPREAD}, {"set": PAIRED}], "grid")
    grid, used = utilization_grid(r)
    assert len(grid) == 6 and all(len(row) == 2 for row in grid)
    # the one-macro tiles' second cell is no macro: never used, never busy
    assert [row[1] for row in used[:4]] == [False] * 4 and [row[1] for row in grid[:4]] == [0.0] * 4
    flat = [v for row, size in zip(grid, r.macros_by_tile) for v in row[:size]]
    assert flat == [b / r.total_cycles for b in r.macro_busy_cycles]


def test_the_cli_runs_maps_and_studies_accuracy_on_such_a_system(tmp_path, cli):
    path = str(_system(tmp_path, ["mram72", {"set": {"chip.tiles": 18, "chip.macros_per_tile": 4}}], "kws"))
    ran = cli("run", "kws_dscnn", "--system", path, "--batch", "2", "--quiet", "--json", "--layers", "none")
    assert ran.code == 0, ran.err
    d = json.loads(ran.out)
    assert d["macros_by_tile"] == [8] * 9 + [4] * 18
    assert [c["macros"] for c in d["system"]["per_chip"]] == [72, 72]
    shown = tmp_path / "shown.yaml"
    shown.write_text(cli("show", path).out)
    mapped = cli("map", "mlp", "--arch", str(shown), "--budget-s", "0.5", "--batch", "2", "--quiet", "--json")
    assert mapped.code == 0, mapped.err
    m = json.loads(mapped.out)
    arch = load_system(Path(path))
    # a plan of one chip's rounds numbers each round's macros on its own chip (round r on chip r mod 2);
    # one held on the system numbers them on the system
    on_system = any(x >= 72 for placed in m["placement"] for x in placed["macros"])
    for placed in m["placement"]:
        if len(placed["rounds"]) == 1:
            per = 8 if placed["rounds"][0] % 2 == 0 else 4
            assert placed["tiles"] == sorted({arch.tile_of_macro(x) if on_system else x // per
                                              for x in placed["macros"]}), placed
    acc = cli("run", "kws_dscnn", "--system", path, "--accuracy", "--accuracy-samples", "16", "--quiet", "--json")
    assert acc.code == 0, acc.err
    a = json.loads(acc.out)
    assert 0 <= a["accuracy_uncalibrated"] <= a["accuracy_calibrated"] <= 1


@pytest.mark.parametrize("entry", [{"set": {"chip.tiles": 18, "chip.macros_per_tile": 4, "chip.macros": 71}}])
def test_a_chip_whose_tiles_do_not_make_its_macros_is_named_at_its_entry(tmp_path, cli, entry):
    path = _system(tmp_path, ["mram72", entry], "bad")
    r = cli("run", "mlp", "--system", str(path), "--batch", "1", "--quiet")
    assert r.code == 2 and "chips[1]" in r.err and "18 x 4 = 72, but macros is 71" in r.err, r.err
    assert "Traceback" not in r.err


def test_shown_members_of_different_tiles_read_back_figure_for_figure(tmp_path, cli):
    path = _system(tmp_path, ["mram72", {"set": {"chip.tiles": 18, "chip.macros_per_tile": 4}}], "shown")
    shown = tmp_path / "shown_out.yaml"
    r = cli("show", str(path))
    assert r.code == 0, r.err
    shown.write_text(r.out)
    args = ("--batch", "2", "--quiet", "--json", "--layers", "none")
    a, b = cli("run", "mlp", "--arch", str(shown), *args), cli("run", "mlp", "--system", str(path), *args)
    assert a.code == 0 and b.code == 0, a.err + b.err
    da, db = json.loads(a.out), json.loads(b.out)
    assert da["system"] == db["system"] and da["macros_by_tile"] == db["macros_by_tile"] == [8] * 9 + [4] * 18
