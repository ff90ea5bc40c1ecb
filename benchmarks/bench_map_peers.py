"""Time the mappers of two peers, ZigZag (PyPI zigzag-dse) and AccelForge (PyPI accelforge), on the ResNet-18 each ships.

What it measures: the wall time (time.perf_counter, one process) of one call to ZigZag's own API,
zigzag.api.get_hardware_performance_zigzag, which parses the workload and the hardware, searches spatial
mappings (up to nb_spatial_mappings_generated per layer where the mapping yaml leaves them open) and temporal
loop orders (LOMA: every permutation of the loop prime factors after merging them down to lpf_limit) for each
Conv/Gemm layer, evaluates each candidate with its analytical cost model, keeps the best per layer (opt) and sums
the layers. The timed call includes ZigZag's own result writing (json, pickle, loop orders, a memory hierarchy
png), which the API always does; this script sends it to a temporary directory. Printed per run: the files used,
the mapper settings, layers mapped, spatial mappings and temporal mappings evaluated, total latency (cycles),
total energy (pJ) and the wall seconds.

The workload is zigzag/inputs/workload/resnet18.onnx (1x3x224x224, ImageNet shape; ZigZag reads the graph
without the weights). The runs: ZigZag's IMC examples (dimc.yaml, aimc.yaml with default_imc.yaml and
in_memory_compute=True) and its non-IMC examples (edge_tpu_like.yaml, the accelerator of ZigZag's API test, and
tpu_like.yaml), each with the mapping yaml of the same name.

It needs `pip install zigzag-dse`, which is not a dependency of accelsim (best in a venv of its own):

    python -m venv /tmp/peer && /tmp/peer/bin/pip install zigzag-dse
    /tmp/peer/bin/python benchmarks/bench_map_peers.py [--runs dimc,edge_tpu_like] [--lpf-limit 6] [--layers]

Without zigzag it prints so and exits 0.

--peer accelforge times AccelForge's FFM mapper (PyPI accelforge, MIT's Accelergy project) instead, on the
ResNet-18 it ships (examples/workloads/compute_in_memory/resnet18.yaml, 21 einsums, batch 1, 224x224) and a
compute-in-memory arch it ships (examples/arches/compute_in_memory/basic_analog.yaml, loaded with the examples'
own _load_spec.get_spec: EDP objective, imperfect spatial loops on, loop orders off). It needs Python >= 3.12
(hwcomponents), Graphviz's `dot` on PATH (the detailed evaluation renders mapping.svg, written to a temporary
directory), and on a glibc older than 2.38 a NeuroSim rebuilt from the source hwcomponents-neurosim ships:

    python3.12 -m venv /tmp/peer2 && /tmp/peer2/bin/pip install accelforge
    /tmp/peer2/bin/python benchmarks/bench_map_peers.py --peer accelforge [--arches basic_analog] [--jobs 2]
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from importlib import resources
from importlib.metadata import version
from pathlib import Path

RUNS = {
    # name: (hardware yaml, mapping yaml, in_memory_compute)
    "dimc": ("dimc.yaml", "default_imc.yaml", True),
    "aimc": ("aimc.yaml", "default_imc.yaml", True),
    "edge_tpu_like": ("edge_tpu_like.yaml", "edge_tpu_like.yaml", False),
    "tpu_like": ("tpu_like.yaml", "tpu_like.yaml", False),
}


class Counters:
    """Counts what the mapper did, by wrapping two ZigZag methods (a counter each, nothing else changed)."""

    def __init__(self) -> None:
        self.cost_model_evaluations = 0
        self.loma_permutations = 0
        self.spatial_mappings: dict[str, int] = {}

    def reset(self) -> None:
        self.cost_model_evaluations = 0
        self.loma_permutations = 0
        self.spatial_mappings = {}


class OnceFilter(logging.Filter):
    """Lets each distinct message through once (ZigZag repeats its unrolling warnings for every layer)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        if msg in self.seen:
            return False
        self.seen.add(msg)
        return True


class SpatialMappingLog(logging.Handler):
    """Reads ZigZag's 'Launching spatial mapping i/n' log lines: n spatial mappings were tried for the layer."""

    def __init__(self, counters: Counters) -> None:
        super().__init__(logging.INFO)
        self.counters = counters

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, str) and record.msg.startswith("%s: Launching spatial mapping") and record.args:
            layer, _, total = record.args[:3]
            self.counters.spatial_mappings[str(layer)] = int(total)


def install_counters(counters: Counters) -> None:
    from zigzag.opt.loma.engine import LomaEngine
    from zigzag.stages.evaluation.cost_model_evaluation import CostModelStage

    cme_run = CostModelStage.run
    nb_perm = LomaEngine.compute_nb_permutations

    def counted_run(self):
        counters.cost_model_evaluations += 1
        yield from cme_run(self)

    def counted_nb_permutations(self):
        nb_perm(self)
        counters.loma_permutations += self.nb_permutations

    CostModelStage.run = counted_run
    LomaEngine.compute_nb_permutations = counted_nb_permutations

    sm_logger = logging.getLogger("zigzag.stages.mapping.spatial_mapping_generation")
    sm_logger.setLevel(logging.INFO)
    sm_logger.propagate = False
    sm_logger.addHandler(SpatialMappingLog(counters))
    warn = logging.StreamHandler()
    warn.setLevel(logging.WARNING)
    warn.addFilter(OnceFilter())
    warn.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s (printed once)"))
    sm_logger.addHandler(warn)


def layer_row(cme) -> tuple[str, str, float, float]:
    return str(cme.layer.name), str(cme.layer.spatial_mapping), float(cme.latency_total2), float(cme.energy_total)


def run_one(name: str, args: argparse.Namespace, counters: Counters) -> dict:
    from zigzag.api import get_hardware_performance_zigzag

    hw_name, map_name, imc = RUNS[name]
    inputs = resources.files("zigzag") / "inputs"
    workload = str(inputs / "workload" / "resnet18.onnx")
    hardware = str(inputs / "hardware" / hw_name)
    mapping = str(inputs / "mapping" / map_name)
    settings = {
        "opt": args.opt,
        "temporal_mapping_search_engine": "loma",
        "temporal_mapping_type": "uneven",
        "lpf_limit": args.lpf_limit,
        "nb_spatial_mappings_generated": args.spatial,
        "in_memory_compute": imc,
    }
    counters.reset()
    with tempfile.TemporaryDirectory(prefix="peer_zigzag_") as tmp:
        t0 = time.perf_counter()
        out = get_hardware_performance_zigzag(
            workload,
            hardware,
            mapping,
            dump_folder=os.path.join(tmp, name),
            loma_show_progress_bar=False,
            **settings,
        )
        wall = time.perf_counter() - t0
    energy, latency = out[0], out[1]
    cmes = out[-1]
    layers = cmes[0][1]
    result = {
        "run": name,
        "hardware": hardware,
        "mapping": mapping,
        "workload": workload,
        "settings": settings,
        "layers": len(layers),
        "latency_cycles": float(latency),
        "energy_pj": float(energy),
        "wall_s": wall,
        "spatial_mappings": sum(counters.spatial_mappings.values()),
        "loma_permutations": counters.loma_permutations,
        "cost_model_evaluations": counters.cost_model_evaluations,
        "per_layer": [layer_row(cme) for cme, _ in layers],
    }
    if imc:
        result["tclk_ns"] = float(out[2])
        result["area_mm2"] = float(out[3])
    return result


def report(r: dict, show_layers: bool) -> None:
    print(f"== {r['run']}")
    print(f"hardware:  {r['hardware']}")
    print(f"mapping:   {r['mapping']}")
    print(f"workload:  {r['workload']} (1x3x224x224)")
    print("settings:  " + ", ".join(f"{k}={v}" for k, v in r["settings"].items()))
    print(f"layers mapped: {r['layers']} (Conv/Gemm; ZigZag's ONNX parser leaves Relu/Add/Pool/Flatten as dummies)")
    print(
        f"searched:  {r['spatial_mappings']} spatial mappings over the layers, "
        f"{r['loma_permutations']:,} LOMA loop orders, {r['cost_model_evaluations']:,} cost-model evaluations"
    )
    print(f"latency:   {r['latency_cycles']:,.0f} cycles")
    print(f"energy:    {r['energy_pj']:.4e} pJ")
    if "tclk_ns" in r:
        print(f"imc:       tclk {r['tclk_ns']:.4f} ns, area {r['area_mm2']:.4f} mm2")
    print(f"wall:      {r['wall_s']:.2f} s")
    if show_layers:
        for layer, sm, lat, en in r["per_layer"]:
            print(f"  {layer:<12} {lat:>14,.0f} cycles {en:>12.4e} pJ  {sm}")
    print()


def run_accelforge(arch: str, jobs: int) -> None:
    import accelforge as af

    examples = Path(af.__file__).resolve().parent.parent / "examples"
    sys.path.insert(0, str(examples / "arches" / "compute_in_memory"))
    from _load_spec import get_spec  # the shipped examples' own loader

    workload = examples / "workloads" / "compute_in_memory" / "resnet18.yaml"
    t0 = time.perf_counter()
    # The shipped CiM arches keep no tensor above the macro; the loader's dummy main memory holds the activations.
    spec = get_spec(arch, add_dummy_main_memory=True)
    spec.workload = af.Workload.from_yaml(str(workload), top_key="workload", jinja_parse_data={"BATCH_SIZE": 1})
    spec.renames = af.Renames.from_yaml(str(workload), top_key="renames", jinja_parse_data={"BATCH_SIZE": 1})
    einsums = [e.name for e in spec.workload.einsums]
    af.set_n_parallel_jobs(jobs)
    load = time.perf_counter() - t0
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="peer_accelforge_") as tmp:
        os.chdir(tmp)  # map_workload_to_arch writes mapping.svg into the working directory
        try:
            t1 = time.perf_counter()
            mappings = af.mapper.FFM.map_workload_to_arch(spec, print_progress=False, print_number_of_pmappings=True)
            wall = time.perf_counter() - t1
        finally:
            os.chdir(cwd)
    print(f"== accelforge {arch}")
    print(f"arch:      {examples / 'arches' / 'compute_in_memory' / (arch + '.yaml')}")
    print(f"workload:  {workload} (BATCH_SIZE=1)")
    ffm = spec.mapper
    print(
        f"settings:  metrics={spec.mapper.metrics}, explore_loop_orders={ffm.explore_loop_orders}, "
        f"explore_imperfect_spatial_loops={ffm.explore_imperfect_spatial_loops}, jobs={jobs}"
    )
    print(f"layers mapped: {len(einsums)} einsums; mappings kept: {len(mappings.data)}")
    print(f"latency:   {float(mappings.latency()):.6g} s")
    print(f"energy:    {float(mappings.energy()) * 1e12:.4e} pJ")
    print(f"wall:      {wall:.2f} s (spec load {load:.2f} s, not included)")
    print()


def main_accelforge(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("accelforge") is None:
        print("accelforge is not installed (pip install accelforge, Python >= 3.12): nothing measured")
        return 0
    if shutil.which("dot") is None:
        print("accelforge's detailed evaluation needs Graphviz's dot (apt-get install graphviz): nothing measured")
        return 0
    print(f"accelforge {version('accelforge')}, python {platform.python_version()}, {os.cpu_count()} cpus")
    print()
    for arch in [a.strip() for a in args.arches.split(",") if a.strip()]:
        try:
            run_accelforge(arch, args.jobs)
        except Exception as exc:  # a component model that cannot run here (NeuroSim's binary, say)
            print(f"== accelforge {arch}: failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
            print()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="dimc,aimc,edge_tpu_like,tpu_like", help="comma list of " + ",".join(RUNS))
    parser.add_argument("--lpf-limit", type=int, default=6, help="LOMA loop prime factor limit (ZigZag's default 6)")
    parser.add_argument("--spatial", type=int, default=3, help="nb_spatial_mappings_generated (ZigZag's default 3)")
    parser.add_argument("--opt", default="latency", choices=["latency", "energy", "EDP"])
    parser.add_argument("--layers", action="store_true", help="print each layer's latency, energy, spatial mapping")
    parser.add_argument("--peer", default="zigzag", choices=["zigzag", "accelforge"])
    parser.add_argument("--arches", default="basic_analog", help="accelforge: its compute_in_memory arches")
    parser.add_argument("--jobs", type=int, default=2, help="accelforge: parallel jobs (af.set_n_parallel_jobs)")
    args = parser.parse_args()
    if args.peer == "accelforge":
        return main_accelforge(args)

    if importlib.util.find_spec("zigzag") is None:
        print("zigzag is not installed (pip install zigzag-dse; it is not a dependency of accelsim): nothing measured")
        return 0
    names = [n.strip() for n in args.runs.split(",") if n.strip()]
    unknown = [n for n in names if n not in RUNS]
    if unknown:
        parser.error(f"unknown runs {unknown}; known: {', '.join(RUNS)}")

    # The API calls logging.basicConfig(INFO); a WARNING root set first keeps its per-layer INFO lines quiet.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    print(f"zigzag-dse {version('zigzag-dse')}, python {platform.python_version()}, {os.cpu_count()} cpus")
    print()
    counters = Counters()
    install_counters(counters)
    for name in names:
        report(run_one(name, args, counters), args.layers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
