"""Every command with hostile and careless arguments and files, as a table.

Each row is (the command line, the files it finds in an empty folder, the exit code, what stderr must
say: the file, line, dotted path and value where they apply). Each case asserts the exit code, no
traceback, the message, and that the folder holds afterwards exactly what it held before (plus the
outputs the row names). Rows refused before anything is allocated run in-process (the ``cli``
fixture); rows whose refusal guards a big allocation (a batch, a layer, a macro population, dies)
run in a subprocess with a 3 GB address-space limit and a 40 s timeout, and must be refused within
200 MB: the refusal itself is what they test. docs/reliability.md lists the limits.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from cli_cases import C, Case

ROOT = Path(__file__).resolve().parent.parent

#: the subprocess rows' address-space limit and timeout
LIMIT_BYTES = 3_000_000_000
TIMEOUT_S = 40
#: a refusal in a subprocess stays under this much resident memory (Python, numpy, pydantic, accelsim)
REFUSAL_MAX_RSS_MB = 200


# ---- what a row's folder holds ----------------------------------------------------------------------------
class Fifo:
    """A named pipe (reading it would block)."""


@dataclass(frozen=True)
class Sparse:
    """A file of ``size`` zero bytes that takes no disk space."""

    size: int


@dataclass(frozen=True)
class StoreFile:
    """A sweep results store whose meta row ``sweep`` holds ``meta`` and whose one point's params are ``params``."""

    meta: str
    params: str = "{}"


@dataclass(frozen=True)
class Onnx:
    """The ONNX model of a shipped workload (tests/onnx_models.py)."""

    workload: str


@dataclass(frozen=True)
class FeatureSet:
    """The first ``samples`` samples of the shipped KWS test set, as a feature-set .npz."""

    samples: int


@dataclass(frozen=True)
class NpzBomb:
    """An .npz whose ``features`` header declares ``shape`` float32 (about 8 TB) over a few bytes of data."""

    shape: tuple = (4 * 10**10, 49, 10)


def _make(folder: Path, name: str, spec) -> None:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(spec, str):
        path.write_text(spec)
    elif isinstance(spec, bytes):
        path.write_bytes(spec)
    elif isinstance(spec, Fifo):
        os.mkfifo(path)
    elif isinstance(spec, Sparse):
        with open(path, "wb") as fh:
            fh.truncate(spec.size)
    elif spec is dir:
        path.mkdir()
    elif isinstance(spec, StoreFile):
        from accelsim.sweep.store import Store

        with Store(path) as store:
            store.set_meta("sweep", spec.meta)
        db = sqlite3.connect(path)
        db.execute("INSERT INTO points (key, idx, workload, params, seed, status, error, metrics, elapsed_s) "
                   "VALUES ('k', 0, 'mlp', ?, 0, 'ok', NULL, '{\"throughput_inferences_per_s\": 1.0}', 0.1)", (spec.params,))
        db.commit()
        db.close()
    elif isinstance(spec, Onnx):
        sys.path.insert(0, str(Path(__file__).parent))
        from onnx_models import onnx_from_workload, save

        save(onnx_from_workload(spec.workload), path)
    elif isinstance(spec, FeatureSet):
        import numpy as np

        shipped = np.load(ROOT / "workloads" / "data" / "kws_test.npz")
        np.savez(path, features=shipped["features"][:spec.samples], labels=shipped["labels"][:spec.samples],
                 classes=shipped["classes"])
    elif isinstance(spec, NpzBomb):
        import io
        import zipfile

        import numpy as np

        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": spec.shape})
        labels = io.BytesIO()
        np.save(labels, np.zeros(3, np.int64))
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("features.npy", header.getvalue() + bytes(64))
            zf.writestr("labels.npy", labels.getvalue())
            zf.writestr("fc.weight.npy", header.getvalue() + bytes(64))
    else:
        raise TypeError(spec)


def _listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


# ---- the rows -------------------------------------------------------------------------------------------------


LAYER = "name: w\ninput_shape: {shape}\nlayers:\n  - {layer}\n"


def workload(layer: str, shape="[8]", more: str = "") -> dict:
    return {"w.yaml": LAYER.format(shape=shape, layer=layer) + more}


SWEEP = ("name: s\nbase: {base}\nworkloads: [{workloads}]\nparameters:\n  {axis}\n{extra}"
         "objectives:\n  - {{metric: {metric}, goal: max}}\n")


def sweep(axis="macro.adc.bits: [4, 5]", base="mram72", workloads="mlp", extra="",
          metric="throughput_inferences_per_s") -> dict:
    return {"s.yaml": SWEEP.format(axis=axis, base=base, workloads=workloads, extra=extra, metric=metric)}


TINY_SWEEP = sweep(axis="interconnect.link_width_bits: [32]", extra="fixed:\n  simulation.batch: 1\n")
SPEC = {"name": "s", "base": "mram72", "workloads": ["mlp"], "parameters": {"interconnect.link_width_bits": [32]},
        "objectives": [{"metric": "throughput_inferences_per_s", "goal": "max"}]}
GOOD_META = json.dumps({"spec": SPEC, "base": "0", "workloads": {}})
BOMB = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(8))

CASES = [
    # ---- the command line itself
    C("no-command", code=2, says=("usage: accelsim",)),
    C("unknown-command", "simulate", says=("invalid choice: 'simulate'",)),
    C("unknown-option", "list", "--bogus", says=("unrecognized arguments: --bogus",)),
    # ---- generate
    C("generate-prefill-0", "generate", "--prefill", "0", says=("--prefill must be between 1 and",)),
    C("generate-decode-negative", "generate", "--decode", "-1", says=("--decode must be between 0 and",)),
    C("generate-not-a-decoder", "generate", "mlp", says=("mlp has no kv_cache layer",)),
    C("generate-kv-home", "generate", "--kv-cache", "disk", says=("invalid choice: 'disk'",)),
    C("generate-fast-0", "generate", "--fast", "0", says=("--fast N must be between 1 and",)),
    C("generate-fast-negative", "generate", "--fast", "-4", says=("--fast N must be between 1 and",)),
    C("generate-fast-not-a-number", "generate", "--fast", "often", says=("invalid int value: 'often'",)),
    C("generate-kv-does-not-fit", "generate", "--prefill", "32", "--decode", "1", "--kv-cache", "tile",
      says=("--kv-cache", "takes", "bits; the tile")),
    # ---- systems: size, run --system
    C("size-max-chips-0", "size", "mlp", "--max-chips", "0", says=("--max-chips must be between 1 and 4,096",)),
    C("size-batch-0", "size", "mlp", "--batch", "0", says=("--batch must be at least 1",)),
    C("size-unknown-system", "size", "mlp", "--system", "nosuch", says=("no built-in system", "nosuch")),
    C("size-system-is-an-arch", "size", "mlp", "--system", "mram72", says=("mram72",)),
    C("run-system-missing-arch", "run", "mlp", "--system", "s.yaml",
      files={"s.yaml": "name: s\narch: nothere\nchips: 2\nlink: {bandwidth_gbps: 1, pj_per_bit: 1}\n"},
      says=("s.yaml:2", "arch", "nothere")),
    C("run-system-unreachable", "run", "mlp", "--system", "s.yaml",
      files={"s.yaml": "name: s\narch: mram72\nchips: 3\ntopology: custom\nconnections: [[0, 1]]\n"
                       "link: {bandwidth_gbps: 1, pj_per_bit: 1}\n"},
      says=("s.yaml:5", "connections", "chip(s) 2 cannot be reached")),
    C("run-system-link-to-nowhere", "run", "mlp", "--system", "s.yaml",
      files={"s.yaml": "name: s\narch: mram72\nchips: 2\ntopology: custom\nconnections: [[0, 5]]\n"
                       "link: {bandwidth_gbps: 1, pj_per_bit: 1}\n"},
      says=("s.yaml:5", "names chip 5")),
    C("run-system-too-small", "run", "resnet18_cifar10", "--system", "mram72x4_ucie", "--set", "reprogramming=false",
      code=1, says=("needs 41 chips", "the system has 4")),
    C("run-system-and-arch", "run", "mlp", "--system", "mram72x4_ucie", "--arch", "macros/jia_jssc20",
      says=("leave --arch macros/jia_jssc20 out",)),
    # ---- map
    C("map-budget-0", "map", "mlp", "--budget-s", "0", says=("--budget-s must be a positive number of seconds",)),
    C("map-budget-negative", "map", "mlp", "--budget-s", "-3", says=("--budget-s must be a positive number",)),
    C("map-budget-nan", "map", "mlp", "--budget-s", "nan", says=("--budget-s must be a positive number",)),
    C("map-budget-text", "map", "mlp", "--budget-s", "soon", says=("argument --budget-s: invalid float value",)),
    C("map-objective", "map", "mlp", "--objective", "speed", says=("invalid choice: 'speed'",)),
    C("map-constraint-metric", "map", "mlp", "--constraint", "power<=1",
      says=("'power' is not a metric the search reports",)),
    C("map-constraint-form", "map", "mlp", "--constraint", "energy<1", says=("expected METRIC<=VALUE",)),
    C("map-constraint-infeasible", "map", "mlp", "--constraint", "throughput>=1e15",
      says=("no plan reaches it", "72 macros")),
    C("map-constraint-energy-floor", "map", "mlp", "--constraint", "energy<=1e-12",
      says=("no plan reaches it", "the energy of the network's MVMs alone")),
    C("map-constraint-latency-floor", "map", "mlp", "--constraint", "latency<=1e-9",
      says=("no plan reaches it", "as many replicas as the chip holds")),
    C("map-verify-0", "map", "mlp", "--verify", "0", says=("--verify must be between 1 and 50",)),
    C("map-batch-0", "map", "mlp", "--batch", "0", says=("--batch must be at least 1, got 0",)),
    C("map-out-proc", "map", "mlp", "--out", "/proc/accelsim-plan.yaml",
      says=("cannot write a file into /proc",), never=(".tmp",)),
    C("run-plan-missing", "run", "mlp", "--plan", "nope.yaml", says=("nope.yaml",)),
    C("run-plan-list", "run", "mlp", "--plan", "p.yaml", files={"p.yaml": "[1, 2]\n"}, says=("must be a mapping",)),
    C("run-plan-empty", "run", "mlp", "--plan", "p.yaml", files={"p.yaml": ""}, says=("p.yaml",)),
    C("sweep-mapping-bad", "sweep", "s.yaml", "--quiet", files=sweep(extra="mapping: fast\n"),
      says=("s.yaml", "mapping")),
    C("sweep-mapping-metric", "sweep", "s.yaml", "--quiet", files=sweep(metric="mapping_gain"),
      says=("'mapping_gain' is a mapping search's figure", "mapping: search")),
    # ---- run: options
    C("run-batch-0", "run", "mlp", "--batch", "0", says=("--batch must be at least 1, got 0",)),
    C("run-batch-negative", "run", "mlp", "--batch", "-5", says=("--batch must be at least 1, got -5",)),
    C("run-batch-text", "run", "mlp", "--batch", "many", says=("argument --batch: invalid int value: 'many'",)),
    C("run-batch-float", "run", "mlp", "--batch", "1e9", says=("invalid int value: '1e9'",)),
    C("run-batch-huge", "run", "mlp", "--batch", "1000000000", isolated=True,
      says=("--batch: value 1000000000:", "1,000,000,000 inferences", "TB of memory", "could fit")),
    C("run-batch-schema-max", "run", "mlp", "--set", "simulation.batch=1000000", isolated=True,
      says=("simulation.batch: value 1000000:", "address-space limit of 3 GB", "could fit")),
    C("run-batch-above-schema", "run", "mlp", "--set", "simulation.batch=1000001",
      says=("simulation.batch", "less than or equal to 1000000")),
    C("run-batch-a-day", "run", "w.yaml", "--batch", "100000", isolated=True,
      files=workload("{name: c, type: conv2d, kernel: 3, filters: 4, padding: 1}", shape="[1, 1000, 1000]"),
      says=("--batch: value 100000:", "of engine time each", "longer than a day", "could fit")),
    C("run-mode", "run", "mlp", "--mode", "fast", says=("invalid choice: 'fast'",)),
    C("run-schedule", "run", "mlp", "--schedule", "eager", says=("invalid choice: 'eager'",)),
    C("run-seed-text", "run", "mlp", "--seed", "x", says=("argument --seed: invalid int value",)),
    C("run-trace-events-0", "run", "mlp", "--trace", "t.json", "--trace-max-events", "0",
      says=("--trace-max-events must be between 1 and 100,000,000", "got 0")),
    C("run-trace-events-huge", "run", "mlp", "--trace", "t.json", "--trace-max-events", "1000000000",
      says=("--trace-max-events must be between 1 and 100,000,000", "GB of trace")),
    C("run-trace-events-alone", "run", "mlp", "--trace-max-events", "5", says=("--trace-max-events needs --trace",)),
    C("run-trace-proc", "run", "mlp", "--trace", "/proc/version",
      says=("/proc/version: cannot write a file into /proc",), never=(".tmp",)),
    C("run-trace-proc-new", "run", "mlp", "--trace", "/proc/accelsim-trace.json",
      says=("/proc/accelsim-trace.json: cannot write a file into /proc",), never=(".tmp",)),
    C("run-trace-into-a-file", "run", "mlp", "--trace", "f.txt/t.json", files={"f.txt": "mine"},
      says=("f.txt/t.json: its folder is not a directory",)),
    C("run-trace-dir", "run", "mlp", "--trace", "out", files={"out": dir}, says=("out: is a directory",)),
    C("run-plot-into-a-file", "run", "mlp", "--plot", "f.txt", files={"f.txt": "mine"},
      says=("f.txt: exists and is not a directory",)),
    C("run-accuracy-samples-0", "run", "--accuracy", "--accuracy-samples", "0",
      says=("--accuracy-samples must be at least 1, got 0",)),
    C("run-input-shape-yaml", "run", "mlp", "--input-shape", "input=1,784",
      says=("an input shape can only be given for an ONNX model",)),
    C("run-input-shape-malformed", "run", "mlp", "--input-shape", "input=1,x",
      says=("--input-shape: value 'input=1,x': expected NAME=D0,D1,...",)),
    C("run-input-shape-option-negative", "run", "mlp", "--input-shape", "input=1,-784", says=("with sizes of 0 or more",)),
    C("run-input-shape-zero", "run", "m.onnx", "--input-shape", "input=1,0", files={"m.onnx": Onnx("mlp")},
      needs="onnx", says=("input 'input' of shape [1, 0] has a size 0",)),
    C("run-input-shape-twice", "run", "m.onnx", "--input-shape", "input=1,784", "--input-shape", "input=1,784",
      files={"m.onnx": Onnx("mlp")}, needs="onnx", says=("input 'input' is given twice",)),
    # ---- run: the architecture
    C("run-arch-missing", "run", "mlp", "--arch", "mram73", says=("mram73: no such file", "did you mean mram72?")),
    C("run-arch-missing-path", "run", "mlp", "--arch", "chip.yaml", says=("chip.yaml: file not found",)),
    C("run-arch-dir", "run", "mlp", "--arch", "d", files={"d": dir}, says=("d: is a directory",)),
    C("run-arch-empty", "run", "mlp", "--arch", "a.yaml", files={"a.yaml": ""},
      says=("a.yaml: the top level of an architecture file must be a mapping", "empty")),
    C("run-arch-list", "run", "mlp", "--arch", "a.yaml", files={"a.yaml": "- 1\n- 2\n"},
      says=("a.yaml:1: the top level of an architecture file must be a mapping", "a list")),
    C("run-arch-syntax", "run", "mlp", "--arch", "a.yaml", files={"a.yaml": "clock: {frequency_mhz: 200\n"},
      says=("a.yaml:2: YAML syntax error",)),
    C("run-arch-duplicate-key", "run", "mlp", "--arch", "a.yaml", files={"a.yaml": "name: a\nname: b\n"},
      says=("a.yaml:2: name: duplicate key 'name' (first given on line 1)",)),
    C("run-arch-binary", "run", "mlp", "--arch", "a.yaml", files={"a.yaml": b"name: \xff\xfe\n"},
      says=("a.yaml: cannot read file",)),
    C("run-set-no-value", "run", "mlp", "--set", "macro.adc.bits", says=("macro.adc.bits",)),
    C("run-set-unknown", "run", "mlp", "--set", "macro.adc.bitz=5",
      says=("macro.adc.bitz", "unknown key 'bitz'", "did you mean 'bits'?")),
    C("run-set-rows-0", "run", "mlp", "--set", "macro.rows=0", says=("macro.rows", "greater than 0")),
    C("run-set-rows-huge", "run", "mlp", "--set", "macro.rows=100000", says=("macro.rows", "8192")),
    C("run-set-adc-17", "run", "mlp", "--set", "macro.adc.bits=17", says=("macro.adc.bits", "16")),
    C("run-set-macros-mismatch", "run", "mlp", "--set", "chip.macros=71",
      says=("tiles x macros_per_tile = 9 x 8 = 72, but macros is 71",)),
    C("run-set-text", "run", "mlp", "--set", "chip.tiles=nine", says=("chip.tiles", "expected an integer")),
    C("run-clock-tiny", "run", "mlp", "--set", "clock.frequency_mhz=1e-300",
      says=("clock.frequency_mhz: value '1e-300': expected a value greater than or equal to 0.001",)),
    C("run-clock-zero", "run", "mlp", "--set", "clock.frequency_mhz=0",
      says=("clock.frequency_mhz", "greater than or equal to 0.001")),
    C("run-clock-huge", "run", "mlp", "--set", "clock.frequency_mhz=20000",
      says=("clock.frequency_mhz", "less than or equal to 10000")),
    C("run-chip-huge", "run", "mlp", "--set", "chip.tiles=1000000000", "--set", "chip.macros_per_tile=1",
      "--set", "chip.macros=1000000000", isolated=True,
      says=("architecture 'mram72': chip.tiles: value 1000000000:", "1,000,000,000 tiles", "TB of memory")),
    # ---- run: the workload
    C("run-workload-missing", "run", "kws", says=("kws: no such file", "did you mean")),
    C("run-workload-dir", "run", "d", files={"d": dir}, says=("d: is a directory",)),
    C("run-workload-fifo", "run", "p.yaml", files={"p.yaml": Fifo()}, says=("p.yaml: is not a regular file",)),
    C("run-workload-zero", "run", "/dev/zero", says=("/dev/zero: is not a regular file",)),
    C("run-workload-sparse", "run", "big.yaml", files={"big.yaml": Sparse(17 * 2**20)},
      says=("big.yaml: is 17,825,792 bytes", "at most 16,777,216 bytes")),
    C("run-workload-bomb", "run", "w.yaml", files={"w.yaml": BOMB}, says=("w.yaml", "alias", "1,000,000")),
    C("run-padding-huge", "run", "w.yaml", isolated=True,
      files=workload("{name: c, type: conv2d, kernel: 3, filters: 4, padding: 1000000000}", shape="[1, 8, 8]"),
      says=("w.yaml:4: layers[0]:", "layer 'c' (conv2d", "2,000,000,006 x 2,000,000,006", "EB of memory")),
    C("run-input-huge", "run", "w.yaml", isolated=True,
      files=workload("{name: c, type: conv2d, kernel: 3, filters: 4}", shape="[1, 1000000, 1000000]"),
      says=("w.yaml:4: layers[0]:", "output positions per inference", "of memory")),
    C("run-units-huge", "run", "w.yaml", isolated=True, files=workload("{name: fc, type: linear, units: 1000000000}"),
      says=("w.yaml:4: layers[0]:", "K x N = 8 x 1,000,000,000", "15,625,000 weight tiles", "GB of memory")),
    C("run-units-absurd", "run", "w.yaml", isolated=True,
      files=workload("{name: fc, type: linear, units: 1000000000000}"),
      says=("w.yaml:4: layers[0]:", "15,625,000,000 weight tiles", "TB of memory")),
    C("run-filters-huge", "run", "w.yaml", isolated=True,
      files=workload("{name: c, type: conv2d, kernel: 3, filters: 100000000000}", shape="[1, 8, 8]"),
      says=("w.yaml:4: layers[0]:", "layer 'c' (conv2d, K x N = 9 x 100,000,000,000)", "weight tiles")),
    C("run-second-layer-huge", "run", "w.yaml", isolated=True,
      files=workload("{name: a, type: linear, units: 8}",
                     more="  - {name: b, type: linear, units: 1000000000000}\n"),
      says=("w.yaml:5: layers[1]:", "layer 'b'")),
    C("run-units-zero", "run", "w.yaml", files=workload("{name: fc, type: linear, units: 0}"),
      says=("w.yaml:4: layers[0].units: value 0: expected a value greater than 0",)),
    C("run-units-text", "run", "w.yaml", files=workload("{name: fc, type: linear, units: many}"),
      says=("w.yaml:4: layers[0].units: value 'many': expected an integer",)),
    C("run-units-float", "run", "w.yaml", files=workload("{name: fc, type: linear, units: 2.5}"),
      says=("layers[0].units", "2.5", "whole number")),
    C("run-units-inf", "run", "w.yaml", files=workload("{name: fc, type: linear, units: .inf}"),
      says=("layers[0].units",)),
    C("run-padding-negative", "run", "w.yaml",
      files=workload("{name: c, type: conv2d, kernel: 3, filters: 4, padding: -1}", shape="[1, 8, 8]"),
      says=("w.yaml:4: layers[0].padding", "padding must not be negative")),
    C("run-kernel-zero", "run", "w.yaml",
      files=workload("{name: c, type: conv2d, kernel: 0, filters: 4}", shape="[1, 8, 8]"),
      says=("w.yaml:4: layers[0].kernel", "must be positive")),
    C("run-kernel-too-big", "run", "w.yaml",
      files=workload("{name: c, type: conv2d, kernel: 9, filters: 4}", shape="[1, 8, 8]"),
      says=("w.yaml:4: layers[0]: layer 'c' (conv2d) does not chain",)),
    C("run-dilation-zero", "run", "w.yaml",
      files=workload("{name: c, type: conv2d, kernel: 3, filters: 4, dilation: 0}", shape="[1, 8, 8]"),
      says=("layers[0].dilation", "dilation must be at least 1")),
    C("run-layer-type", "run", "w.yaml", files=workload("{name: fc, type: dense, units: 4}"),
      says=("w.yaml:4: layers[0].type: value 'dense': unknown type",)),
    C("run-layer-unknown-key", "run", "w.yaml", files=workload("{name: fc, type: linear, units: 4, unitz: 3}"),
      says=("w.yaml:4: layers[0].unitz: unknown key 'unitz'; did you mean 'units'?",)),
    C("run-layer-name-twice", "run", "w.yaml", files=workload("{name: fc, type: linear, units: 4}",
                                                              more="  - {name: fc, type: linear, units: 4}\n"),
      says=("w.yaml:5: layers[1].name: value 'fc': layer name 'fc' is used twice",)),
    C("run-layer-input-unknown", "run", "w.yaml",
      files=workload("{name: fc, type: linear, units: 4, inputs: [nosuch]}"),
      says=("w.yaml:4: layers[0].inputs", "inputs name unknown or later layers ['nosuch']")),
    C("run-reshape-zero", "run", "w.yaml", files=workload("{name: r, type: reshape, shape: [0]}"),
      says=("layers[0].shape", "every size must be positive or -1")),
    C("run-transpose-perm", "run", "w.yaml", files=workload("{name: t, type: transpose, perm: [0, 0]}"),
      says=("layers[0].perm", "must be a permutation")),
    C("run-no-layers", "run", "w.yaml", files={"w.yaml": "name: w\ninput_shape: [8]\nlayers: []\n"},
      says=("w.yaml:3: layers", "at least 1 item")),
    C("run-input-shape-empty", "run", "w.yaml",
      files={"w.yaml": "name: w\ninput_shape: []\nlayers:\n  - {name: fc, type: linear, units: 4}\n"},
      says=("w.yaml:2: input_shape", "at least 1 item")),
    C("run-input-shape-4d", "run", "w.yaml",
      files={"w.yaml": "name: w\ninput_shape: [1, 2, 3, 4]\nlayers:\n  - {name: fc, type: linear, units: 4}\n"},
      says=("w.yaml:2: input_shape", "at most 3 items")),
    C("run-input-shape-negative", "run", "w.yaml",
      files={"w.yaml": "name: w\ninput_shape: [-8]\nlayers:\n  - {name: fc, type: linear, units: 4}\n"},
      says=("w.yaml:2: input_shape", "every dimension must be positive")),
    C("run-layers-not-a-list", "run", "w.yaml", files={"w.yaml": "name: w\ninput_shape: [8]\nlayers: 5\n"},
      says=("w.yaml:3: layers", "expected a list")),
    C("run-weights-missing", "run", "w.yaml", "--accuracy", "--quiet",
      files=workload("{name: fc, type: linear, units: 4}", more="weights: nosuch.npz\n"),
      says=("has no trained weights", "nosuch.npz not found")),
    # ---- accuracy
    C("accuracy-dies-0", "accuracy", "--dies", "0", says=("--dies must be at least 1, got 0",)),
    C("accuracy-workers-0", "accuracy", "--workers", "0", says=("--workers must be at least 1, got 0",)),
    C("accuracy-samples-0", "accuracy", "--samples", "0", says=("--samples must be at least 1, got 0",)),
    C("accuracy-calibration-samples-0", "accuracy", "--calibration-samples", "0",
      says=("--calibration-samples must be at least 1, got 0",)),
    C("accuracy-seed-negative", "accuracy", "--seed", "-1", says=("--seed must be non-negative, got -1",)),
    C("accuracy-dies-text", "accuracy", "--dies", "all", says=("argument --dies: invalid int value: 'all'",)),
    C("accuracy-dies-a-day", "accuracy", "--dies", "100000", "--workers", "2", "--quiet", isolated=True,
      says=("--dies: value 100000:", "100,000 virtual dies of 'kws_dscnn'", "longer than a day",
            "2,344 samples", "on 2 worker(s)", "dies could run in that time")),
    C("accuracy-dies-memory", "accuracy", "--dies", "1000000000", "--scheduler", "tcp://127.0.0.1:9", "--quiet",
      isolated=True, says=("--dies: value 1000000000:", "TB of memory")),
    C("accuracy-scheduler-garbage", "accuracy", "--scheduler", "garbage", "--dies", "2", "--quiet", isolated=True,
      needs="distributed", says=("--scheduler: value 'garbage': not a Dask scheduler address",
                                 "missing port number", "tcp://HOST:PORT")),
    C("accuracy-scheduler-scheme", "accuracy", "--scheduler", "ftp://host:1", "--dies", "2", "--quiet",
      isolated=True, needs="distributed", says=("--scheduler: value 'ftp://host:1': not a Dask scheduler address",)),
    C("accuracy-samples-clipped", "accuracy", "--data", "t.npz", "--samples", "1000000000", "--quiet", "--json",
      files={"t.npz": FeatureSet(6)}, code=0, isolated=True,
      says=("note: --samples 1,000,000,000 is more than the test set's 6 samples; all of them are used",)),
    C("accuracy-data-missing", "accuracy", "--data", "nosuch.npz", "--quiet",
      says=("nosuch.npz: test data not found",)),
    C("accuracy-data-not-npz", "accuracy", "--data", "t.npz", "--quiet", files={"t.npz": "not a zip"},
      says=("t.npz",)),
    C("accuracy-no-weights", "accuracy", "mlp", says=("mlp.yaml", "weights")),
    C("accuracy-data-bomb", "accuracy", "--data", "b.npz", "--quiet", files={"b.npz": NpzBomb()}, isolated=True,
      says=("b.npz: the arrays of this feature set hold 156,800,000,000,024 bytes once read", "TB of memory")),
    C("accuracy-weights-bomb", "accuracy", "w.yaml", "--quiet", isolated=True,
      files={**workload("{name: f, type: flatten}", shape="[1, 49, 10]",
                        more="  - {name: fc, type: linear, units: 12}\nweights: b.npz\n"),
             "b.npz": NpzBomb()}, says=("b.npz: the arrays of this weights file hold", "TB of memory")),
    C("accuracy-arch-bad", "accuracy", "--set", "macro.adc.bits=0", says=("macro.adc.bits",)),
    # ---- workload
    C("workload-missing", "workload", "nosuch", says=("nosuch: no such file",)),
    C("workload-fifo", "workload", "p.yaml", files={"p.yaml": Fifo()}, says=("p.yaml: is not a regular file",)),
    C("workload-device", "workload", "/dev/null", says=("/dev/null: is not a regular file",)),
    C("workload-bomb", "workload", "w.yaml", files={"w.yaml": BOMB}, says=("alias", "1,000,000")),
    C("workload-deep", "workload", "w.yaml", files={"w.yaml": "layers: " + "[" * 200 + "]" * 200 + "\n"},
      says=("w.yaml:1: ", "nested more than 100 levels")),
    C("workload-json-and-csv", "workload", "mlp", "--json", "--csv", says=("not allowed with argument",)),
    C("workload-input-shape-yaml", "workload", "mlp", "--input-shape", "input=1,784",
      says=("an input shape can only be given for an ONNX model",)),
    C("workload-huge-units-is-shown", "workload", "w.yaml", "--json", code=0, isolated=True,
      files=workload("{name: fc, type: linear, units: 1000000000}")),
    C("workload-huge-padding-is-shown", "workload", "w.yaml", "--json", code=0, isolated=True,
      files=workload("{name: c, type: conv2d, kernel: 3, filters: 4, padding: 1000000000}", shape="[1, 8, 8]")),
    C("workload-kind-of-file", "workload", "a.yaml", files={"a.yaml": "name: a\nfoo: 1\n"},
      says=("a.yaml:", "layers")),
    # ---- import
    C("import-missing", "import", "nosuch.onnx", "-o", "w.yaml", needs="onnx", says=("nosuch.onnx: file not found",)),
    C("import-not-onnx", "import", "m.onnx", "-o", "w.yaml", files={"m.onnx": "not protobuf"}, needs="onnx",
      says=("m.onnx",)),
    C("import-output-suffix", "import", "m.onnx", "-o", "w.txt", files={"m.onnx": Onnx("mlp")}, needs="onnx",
      says=("the output must be a .yaml file, not 'w.txt'",)),
    C("import-output-in-a-file", "import", "m.onnx", "-o", "f.txt/w.yaml", files={"m.onnx": Onnx("mlp"), "f.txt": "mine"},
      needs="onnx", says=("f.txt/w.yaml: its folder is not a directory",)),
    C("import-output-proc", "import", "m.onnx", "-o", "/proc/w.yaml", files={"m.onnx": Onnx("mlp")}, needs="onnx",
      says=("/proc/w.yaml: cannot write a file into /proc",), never=(".tmp",)),
    C("import-output-dir", "import", "m.onnx", "-o", "w.yaml", "--force", files={"m.onnx": Onnx("mlp"), "w.yaml": dir},
      needs="onnx", says=("w.yaml: is a directory",)),
    C("import-existing", "import", "m.onnx", "-o", "w.yaml", files={"m.onnx": Onnx("mlp"), "w.yaml": "mine"},
      needs="onnx", says=("w.yaml", "already exist", "--force")),
    C("import-input-shape-bad", "import", "m.onnx", "-o", "w.yaml", "--input-shape", "x",
      files={"m.onnx": Onnx("mlp")}, needs="onnx", says=("--input-shape: value 'x'",)),
    C("import-model-is-fifo", "import", "m.onnx", "-o", "w.yaml", files={"m.onnx": Fifo()}, needs="onnx",
      says=("m.onnx: file not found",)),
    # ---- macro
    C("macro-macros-0", "macro", "--macros", "0", says=("argument --macros: expected a positive integer, got 0",)),
    C("macro-macros-negative", "macro", "--macros", "-3", says=("expected a positive integer, got -3",)),
    C("macro-macros-text", "macro", "--macros", "lots", says=("expected a positive integer, got 'lots'",)),
    C("macro-vectors-0", "macro", "--vectors", "0", says=("argument --vectors: expected a positive integer, got 0",)),
    C("macro-seed-negative", "macro", "--seed", "-1", says=("expected a non-negative integer, got -1",)),
    C("macro-macros-huge", "macro", "--macros", "100000000", "--quiet", isolated=True,
      says=("--macros: value 100000000:", "100,000,000 macros of 64 x 64", "TB of memory", "could fit")),
    C("macro-vectors-huge", "macro", "--vectors", "100000000", "--quiet", isolated=True,
      says=("--vectors: value 100000000:", "100,000,000 test vectors", "TB of memory", "could fit")),
    C("macro-chip-huge", "macro", "--set", "chip.tiles=1000000", "--set", "chip.macros=8000000", "--quiet",
      isolated=True, says=("chip.macros: value 8000000:", "8,000,000 macros")),
    C("macro-calibration-vectors", "macro", "--set", "macro.calibration.vectors=1",
      says=("macro.calibration.vectors", "greater than or equal to 2")),
    C("macro-arch-zero", "macro", "--arch", "/dev/zero", says=("/dev/zero: is not a regular file",)),
    C("macro-arch-fifo", "macro", "--arch", "p.yaml", files={"p.yaml": Fifo()}, says=("p.yaml: is not a regular file",)),
    C("macro-set-nan", "macro", "--set", "macro.t_mvm_ns=.nan", says=("macro.t_mvm_ns", "finite")),
    C("macro-weight-bits", "macro", "--set", "macro.weight_bits=3",
      says=("weight_bits (3) must be a multiple of bits_per_cell (2)",)),
    C("macro-json-and-csv", "macro", "--json", "--csv", says=("not allowed with argument",)),
    # ---- silicon
    C("silicon-library-missing", "silicon", "--library", "nosuch.yaml", says=("nosuch.yaml",)),
    C("silicon-library-device", "silicon", "--library", "/dev/zero", says=("/dev/zero",)),
    C("silicon-library-bad", "silicon", "--library", "lib.yaml", files={"lib.yaml": "macros: 5\n"},
      says=("lib.yaml",)),
    C("silicon-library-empty", "silicon", "--library", "lib.yaml", files={"lib.yaml": ""}, says=("lib.yaml",)),
    C("silicon-json-and-csv", "silicon", "--json", "--csv", says=("not allowed with argument",)),
    # ---- sweep
    C("sweep-step-0", "sweep", "s.yaml", "--quiet", files=sweep("macro.adc.bits: {start: 4, stop: 8, step: 0}"),
      says=("s.yaml:5: parameters.macro.adc.bits: step must not be 0",),
      never=("did you mean", "problems", "expected a list")),
    C("sweep-step-wrong-way", "sweep", "s.yaml", "--quiet", files=sweep("macro.adc.bits: {start: 8, stop: 4, step: 1}"),
      says=("s.yaml:5: parameters.macro.adc.bits: step 1.0 never reaches stop 4.0 from start 8.0",)),
    C("sweep-range-key", "sweep", "s.yaml", "--quiet", files=sweep("macro.adc.bits: {start: 4, stop: 8, stp: 1}"),
      says=("s.yaml:5: parameters.macro.adc.bits.stp: unknown key 'stp'; did you mean 'stop'?",
            "valid keys here: count, log, start, step, stop."), never=("distribution",)),
    C("sweep-range-count-0", "sweep", "s.yaml", "--quiet", files=sweep("macro.adc.bits: {start: 4, stop: 8, count: 0}"),
      says=("s.yaml:5: parameters.macro.adc.bits.count", "greater than or equal to 1")),
    C("sweep-range-log-negative", "sweep", "s.yaml", "--quiet",
      files=sweep("macro.adc.bits: {start: -4, stop: 8, count: 3, log: true}"),
      says=("s.yaml:5: parameters.macro.adc.bits: log-spaced ranges need positive start and stop",)),
    C("sweep-axis-scalar", "sweep", "s.yaml", "--quiet", files=sweep("macro.adc.bits: 5"),
      says=("s.yaml:5: parameters.macro.adc.bits: value 5: expected a list of values, a range",)),
    C("sweep-axis-empty", "sweep", "s.yaml", "--quiet", files=sweep("macro.adc.bits: []"),
      says=("parameter 'macro.adc.bits' has no values",)),
    C("sweep-axis-value-range", "sweep", "s.yaml", "--quiet", files=sweep("macro.adc.bits: [4, 40]"),
      says=("s.yaml:5:", "macro.adc.bits = 40", "less than or equal to 16")),
    C("sweep-distribution-grid", "sweep", "s.yaml", "--quiet",
      files=sweep("macro.adc.bits: {distribution: randint, low: 4, high: 8}"),
      says=("distributions (macro.adc.bits) need strategy kind: random",)),
    C("sweep-distribution-incomplete", "sweep", "s.yaml", "--quiet",
      files=sweep("macro.adc.bits: {distribution: uniform, low: 4}"),
      says=("s.yaml:5: parameters.macro.adc.bits: uniform needs high",)),
    C("sweep-too-many-points", "sweep", "s.yaml", "--quiet",
      files=sweep("macro.adc.bits: {distribution: choice, values: [4, 5]}",
                  extra="strategy: {kind: random, samples: 2000000}\n"),
      says=("the sweep has 2,000,000 points; at most 1,000,000",)),
    C("sweep-zip-unequal", "sweep", "s.yaml", "--quiet",
      files=sweep("macro.adc.bits: [4, 5]\n  macro.rows: [32, 64, 128]", extra="strategy: {kind: zip}\n"),
      says=("zip needs every parameter to have the same number of values",)),
    C("sweep-base-missing", "sweep", "s.yaml", "--quiet", files=sweep(base="nosuch.yaml"),
      says=("s.yaml:2: base: value 'nosuch.yaml': file not found", "relative to the sweep file's folder")),
    C("sweep-base-name", "sweep", "s.yaml", "--quiet", files=sweep(base="mram7"),
      says=("s.yaml:2: base: value 'mram7': no such file", "did you mean mram72?")),
    C("sweep-base-device", "sweep", "s.yaml", "--quiet", files=sweep(base="/dev/zero"),
      says=("/dev/zero: is not a regular file",)),
    C("sweep-workload-missing", "sweep", "s.yaml", "--quiet", files=sweep(workloads="nosuch"),
      says=("s.yaml:3: workloads[0]: value 'nosuch'",)),
    C("sweep-metric-unknown", "sweep", "s.yaml", "--quiet", files=sweep(metric="speed"),
      says=("s.yaml", "speed")),
    C("sweep-fixed-batch", "sweep", "s.yaml", "--quiet", files=sweep(extra="fixed:\n  simulation.batch: 1000001\n"),
      says=("s.yaml:7:", "simulation.batch", "less than or equal to 1000000")),
    C("sweep-constraint", "sweep", "s.yaml", "--quiet",
      files=sweep(extra="constraints: ['energy_per_inference_j is small']\n"),
      says=("is not of the form 'metric <= number'",)),
    C("sweep-file-fifo", "sweep", "p.yaml", "--quiet", files={"p.yaml": Fifo()},
      says=("p.yaml: is not a regular file",)),
    C("sweep-workers-0", "sweep", "s.yaml", "--workers", "0", files=TINY_SWEEP,
      says=("--workers must be at least 1, got 0",)),
    C("sweep-out-device", "sweep", "s.yaml", "--out", "/dev/null", "--quiet", files=TINY_SWEEP,
      says=("/dev/null: is not a regular file",)),
    C("sweep-out-dir", "sweep", "s.yaml", "--out", "d", "--quiet", files={**TINY_SWEEP, "d": dir},
      says=("d: is a directory",)),
    C("sweep-out-proc", "sweep", "s.yaml", "--out", "/proc/s.db", "--quiet", files=TINY_SWEEP,
      says=("/proc/s.db: cannot write a file into /proc",)),
    C("sweep-out-exists", "sweep", "s.yaml", "--out", "s.db", "--quiet", files={**TINY_SWEEP, "s.db": StoreFile(GOOD_META)},
      says=("s.db: results store already exists; pass --resume",)),
    C("sweep-resume-corrupt-meta", "sweep", "s.yaml", "--out", "s.db", "--resume", "--quiet", "--workers", "1",
      files={**TINY_SWEEP, "s.db": StoreFile("{not json")},
      says=("s.db: results store records no readable sweep", "damaged")),
    C("sweep-resume-corrupt-point", "sweep", "s.yaml", "--out", "s.db", "--resume", "--quiet", "--workers", "1",
      files={**TINY_SWEEP, "s.db": StoreFile("{not json", params="{oops")},
      says=("s.db: results store records no readable sweep",)),
    C("sweep-scheduler-garbage", "sweep", "s.yaml", "--scheduler", "garbage", "--quiet", files=TINY_SWEEP,
      isolated=True, needs="distributed", says=("--scheduler: value 'garbage': not a Dask scheduler address",)),
    # ---- sweep-report
    C("report-device", "sweep-report", "/dev/null", says=("/dev/null: is not a regular file",),
      never=("not found",)),
    C("report-dir", "sweep-report", "d", files={"d": dir}, says=("d: is a directory",)),
    C("report-fifo", "sweep-report", "p.db", files={"p.db": Fifo()}, says=("p.db: is not a regular file",)),
    C("report-missing", "sweep-report", "nosuch.db", says=("nosuch.db: results store not found",)),
    C("report-empty", "sweep-report", "e.db", files={"e.db": ""}, says=("e.db: not an accelsim sweep store",)),
    C("report-text", "sweep-report", "t.db", files={"t.db": "hello, not a database\n" * 100}, says=("t.db",)),
    C("report-corrupt-meta", "sweep-report", "s.db", files={"s.db": StoreFile("{not json")},
      says=("s.db: the sweep the store records (its meta row 'sweep') is not readable",)),
    C("report-meta-not-a-sweep", "sweep-report", "s.db", files={"s.db": StoreFile("[1, 2]")},
      says=("s.db: the sweep the store records", "not readable")),
    C("report-meta-null", "sweep-report", "s.db", files={"s.db": StoreFile("null")},
      says=("s.db: the sweep the store records",)),
    C("report-corrupt-point", "sweep-report", "s.db", files={"s.db": StoreFile(GOOD_META, params="{oops")},
      says=("s.db: point #0 of the store is not readable",)),
    C("report-plot-into-a-file", "sweep-report", "s.db", "--plot", "f.txt",
      files={"s.db": StoreFile(GOOD_META), "f.txt": "mine"}, says=("f.txt: exists and is not a directory",)),
    # ---- validate (it reports on stdout, one verdict per file)
    C("validate-none", "validate", says=("the following arguments are required: FILE",)),
    C("validate-missing", "validate", "nosuch.yaml", stream="out", says=("nosuch.yaml", "file not found")),
    C("validate-dir", "validate", "d", files={"d": dir}, stream="out", says=("d: INVALID",)),
    C("validate-device", "validate", "/dev/zero", stream="out", says=("/dev/zero", "not a regular file")),
    C("validate-unknown-kind", "validate", "a.yaml", files={"a.yaml": "foo: 1\n"}, stream="out",
      says=("a.yaml: INVALID", "cannot tell what this file is")),
    C("validate-step-0", "validate", "s.yaml", files=sweep("macro.adc.bits: {start: 4, stop: 8, step: 0}"),
      stream="out", says=("s.yaml: INVALID", "s.yaml:5: parameters.macro.adc.bits: step must not be 0"),
      never=("did you mean",)),
    C("validate-base-missing", "validate", "s.yaml", files=sweep(base="nosuch.yaml"), stream="out",
      says=("s.yaml:2: base: value 'nosuch.yaml': file not found",)),
    C("validate-bad-workload", "validate", "w.yaml", files=workload("{name: fc, type: linear, units: -1}"),
      stream="out", says=("w.yaml:4: layers[0].units: value -1",)),
    # ---- list and show
    C("list-json-and-extra", "list", "mram72", says=("unrecognized arguments: mram72",)),
    C("show-missing", "show", "nosuch", says=("nosuch: no such file", "accelsim list")),
    C("show-device", "show", "/dev/zero", says=("/dev/zero: is not a regular file",)),
    C("show-fifo", "show", "p.yaml", files={"p.yaml": Fifo()}, says=("p.yaml: is not a regular file",)),
    C("show-set-bad", "show", "mram72", "--set", "macro.rows=0", says=("macro.rows", "greater than 0")),
    C("show-set-bool", "show", "mram72", "--set", "macro.rows=true", says=("expected a number, not true or false",)),
    C("show-bomb", "show", "a.yaml", files={"a.yaml": BOMB}, says=("alias", "1,000,000")),
    C("show-syntax", "show", "a.yaml", files={"a.yaml": "a: [1, 2\n"}, says=("a.yaml:2: YAML syntax error",)),
]


def _run_isolated(case: Case, args: list[str], folder: Path) -> tuple[int, str, str, float, float]:
    """The command in a subprocess limited to LIMIT_BYTES and TIMEOUT_S: (exit code, stdout, stderr,
    seconds, peak resident MB)."""
    runner = ("import resource, sys\n"
              f"resource.setrlimit(resource.RLIMIT_AS, ({LIMIT_BYTES}, {LIMIT_BYTES}))\n"
              "from accelsim.cli import main\n"
              "code = main(sys.argv[1:])\n"
              # this process's own peak (VmHWM): ru_maxrss would count the forking pytest's pages too
              "peak = [line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM')]\n"
              "sys.stderr.write('\\n@maxrss %s\\n' % (peak[0] if peak else "
              "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))\n"
              "sys.exit(code)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-c", runner, *args], cwd=folder, capture_output=True, text=True,
                       timeout=TIMEOUT_S, env=env, stdin=subprocess.DEVNULL)
    seconds = time.monotonic() - t0
    err, _, tail = r.stderr.rpartition("\n@maxrss ")
    rss_mb = int(tail.split()[0]) / 1024 if tail.strip() else float("nan")
    return r.returncode, r.stdout, err if tail.strip() else r.stderr, seconds, rss_mb


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_command(case: Case, cli, tmp_path, monkeypatch):
    if case.needs:
        pytest.importorskip(case.needs)
    for name, spec in case.files.items():
        _make(tmp_path, name, spec)
    before = _listing(tmp_path)
    args = [a.replace("{tmp}", str(tmp_path)) for a in case.args]
    if case.isolated:
        code, out, err, seconds, rss_mb = _run_isolated(case, args, tmp_path)
    else:
        monkeypatch.chdir(tmp_path)
        r = cli(*args)
        code, out, err = r.code, r.out, r.err
    assert code == case.code, f"exit {code}, expected {case.code}\nstderr: {err}\nstdout: {out[-2000:]}"
    assert "Traceback" not in err and "Traceback" not in out, err
    text = out if case.stream == "out" else err
    for s in case.says:
        assert s.replace("{tmp}", str(tmp_path)) in text, f"{s!r} not in:\n{text}"
    for s in case.never:
        assert s not in text, f"{s!r} in:\n{text}"
    if case.code == 2:
        assert text.strip(), "a refusal says why"
    if case.isolated and case.code == 2:
        assert rss_mb < REFUSAL_MAX_RSS_MB, f"refused at {rss_mb:.0f} MB"
        assert seconds < TIMEOUT_S / 4, f"refused after {seconds:.1f} s"
    assert _listing(tmp_path) == before | set(case.leaves)


def test_the_table_covers_every_command():
    from accelsim.cli import COMMANDS

    names = {m.__name__.rsplit(".", 1)[-1].removeprefix("cmd_").replace("_", "-") for m in COMMANDS}
    covered = {c.args[0] for c in CASES if c.args}
    assert names <= covered, names - covered
    assert len({c.id for c in CASES}) == len(CASES), "row ids are unique"


def test_an_allocation_past_the_estimates_is_one_line_not_a_traceback(cli, monkeypatch):
    """The last line of defence: a MemoryError that escapes the estimates is exit 1 and one line."""
    from accelsim.cli import cmd_workload

    def boom(args):
        raise MemoryError("Unable to allocate 3.35 TiB for an array with shape (72, 100000000, 64)")

    monkeypatch.setattr(cmd_workload, "run", boom)
    r = cli("workload", "mlp")
    assert r.code == 1
    assert "Traceback" not in r.err
    assert "out of memory (allocating 3.35 TiB" in r.err and r.err.count("\n") == 1
