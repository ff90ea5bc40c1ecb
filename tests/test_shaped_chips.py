"""Systems whose chips differ in their macros' rows and columns (docs/systems.md, Chips of different
macros): the plan cuts every layer into weight tiles of the fewest rows and weight columns among the
chips, so every tile fits every chip; a chip of larger macros holds one tile per macro, its other cells
unused, which the cell utilisation and the padded MACs count at each macro's own size; the actions are
those of the same plan on chips of the small macro, each chip's MVMs at its own macro's cycles and
energies; the area and peak are each chip's own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from accelsim.api import RunOptions, simulate
from accelsim.config.members import tile_shape
from accelsim.config.system import load_system
from accelsim.mapping import plan as make_plan
from accelsim.workload import load_workload

LINKS = {"topology": "ring", "link": {"bandwidth_gbps": 256, "latency_ns": 2, "pj_per_bit": 0.5},
         "partition": "spread"}
BIG = {"macro.rows": 128, "macro.columns": 128}


def _system(where: Path, chips, name="shaped", **fields):
    path = where / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "arch": "mram72", "chips": chips, **LINKS, **fields},
                                   sort_keys=False))
    return path


@pytest.mark.parametrize("chips", [["mram72", {"set": BIG}], [{"set": BIG}, "mram72"],
                                   ["mram72", {"set": {"macro.rows": 32, "macro.columns": 128}}],
                                   [{"set": {"macro.rows": 100, "macro.columns": 96}}, "mram72"]])
def test_every_tile_fits_every_chips_macros(tmp_path, chips):
    arch = load_system(_system(tmp_path, chips))
    rows, cols = tile_shape(arch)
    assert (rows, cols) == (min(m.macro.rows for m in arch.system.members),
                            min(m.macro.weight_columns for m in arch.system.members))
    p = make_plan(load_workload("mlp"), arch)
    tiles = [t for r in p.rounds for s in r.stages for rep in s.replicas for t in rep.tiles]
    assert tiles and all(t.rows_used <= rows and t.weight_columns_used <= cols for t in tiles)
    assert max(t.rows_used for t in tiles) == rows  # mlp's 784-row layer fills the tiles' rows


def test_the_actions_are_the_small_macros_and_the_cells_each_macros_own(tmp_path):
    """mlp spread over a mram72 and a chip of 128 x 128 macros counts what it counts spread over a
    mram72 and a mram72 with 5-bit ADCs, chip by chip (the same tiles, the same plan); its cells are each
    macro's own, so the cell utilisation and the padded MACs are the closed forms over the chips."""
    big = simulate(load_system(_system(tmp_path, ["mram72", {"set": BIG}], "big")), load_workload("mlp"),
                   RunOptions(batch=2))
    adc = simulate(load_system(_system(tmp_path, ["mram72", {"set": {"macro.adc.bits": 5}}], "adc")),
                   load_workload("mlp"), RunOptions(batch=2))
    assert [c.layers for c in big.system.per_chip] == [c.layers for c in adc.system.per_chip]
    assert [c.counts_per_inference for c in big.system.per_chip] == [c.counts_per_inference
                                                                     for c in adc.system.per_chip]
    cells = (64 * 64, 128 * 128)
    evaluations = [c.counts_per_inference["macro_evaluation"] for c in big.system.per_chip]
    slots = sum(e * n for e, n in zip(evaluations, cells))  # one evaluation per MVM (pulse-width inputs)
    assert big.padded_macs == slots - big.analog_macs
    allocated = sum(c.macros_used * n for c, n in zip(big.system.per_chip, cells))
    assert big.cell_utilization == pytest.approx(big.analog_macs / allocated, rel=1e-12)
    assert big.cell_utilization < adc.cell_utilization
    assert big.area_mm2 > adc.area_mm2  # four times the cells on chip 1's macros


def test_the_cli_runs_maps_and_studies_accuracy_on_chips_of_different_macros(tmp_path, cli):
    path = str(_system(tmp_path, ["mram72", {"set": BIG}], "kws"))
    args = ("--batch", "2", "--quiet", "--json", "--layers", "none")
    ran = cli("run", "kws_dscnn", "--system", path, *args)
    assert ran.code == 0, ran.err
    d = json.loads(ran.out)
    assert all(c["layers"] for c in d["system"]["per_chip"])  # spread over both chips
    shown = tmp_path / "shown.yaml"
    shown.write_text(cli("show", path).out)
    again = cli("run", "kws_dscnn", "--arch", str(shown), *args)
    assert again.code == 0 and json.loads(again.out)["system"] == d["system"], again.err
    plan = tmp_path / "plan.yaml"
    mapped = cli("map", "kws_dscnn", "--system", path, "--budget-s", "0.5", "--batch", "2", "--verify", "1",
                 "--quiet", "--json", "--out", str(plan))
    assert mapped.code == 0, mapped.err
    m = json.loads(mapped.out)
    assert m["best_engine"]["throughput_per_s"] >= m["default_engine"]["throughput_per_s"] * (1 - 1e-9)
    planned = cli("run", "kws_dscnn", "--system", path, "--plan", str(plan), *args)
    assert planned.code == 0, planned.err
    assert json.loads(planned.out)["throughput_inferences_per_s"] == pytest.approx(
        m["best_engine"]["throughput_per_s"], rel=1e-9)
    acc = cli("run", "kws_dscnn", "--system", path, "--accuracy", "--accuracy-samples", "8", "--quiet", "--json")
    assert acc.code == 0, acc.err
    a = json.loads(acc.out)
    assert 0 <= a["accuracy_uncalibrated"] <= 1 and 0 <= a["accuracy_calibrated"] <= 1


@pytest.mark.parametrize("entry, says", [
    ({"set": {"macro.input_bits": 6}}, "the macro's input bits (4 vs 6)"),
])
def test_what_the_macros_kind_reads_is_still_shared(tmp_path, cli, entry, says):
    path = _system(tmp_path, ["mram72", entry], "bad")
    r = cli("run", "mlp", "--system", str(path), "--batch", "1", "--quiet")
    assert r.code == 2 and "chips[1]" in r.err and says in r.err and "Traceback" not in r.err, r.err
