"""Write the example PNGs of docs/plots.md into docs/img/: ``python docs/gen_plots.py`` (needs the plot extra).

The run plots are those of ``accelsim run --plot`` on kws_dscnn (mram72,
default options); the sweep plots those of ``accelsim sweep-report --plot`` on
a 9-point sweep of array size and link width with an area constraint (two of
its plots). Images are
written at 80 dpi to keep them small.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import tempfile
from pathlib import Path

from accelsim.api import RunOptions, simulate
from accelsim.cli import main
from accelsim.config import load_arch
from accelsim.report.charts import sweep_figures
from accelsim.report.plots import write_plots
from accelsim.sweep.analysis import summarize
from accelsim.sweep.spec import SweepSpec
from accelsim.sweep.store import open_existing
from accelsim.workload import load_workload

IMG = Path(__file__).resolve().parent / "img"
DPI = 80

SWEEP = """name: kws_array_link
base: mram72
workloads: [kws_dscnn]
parameters:
  macro.rows,macro.columns,macro.adc.count: [32, 64, 128]
  interconnect.link_width_bits: [32, 64, 128]
fixed:
  simulation.batch: 1
objectives:
  - {metric: energy_per_inference_j, goal: min}
  - {metric: area_mm2, goal: min}
  - {metric: throughput_inferences_per_s, goal: max}
constraints: ["area_mm2 <= 6"]
"""

#: the sweep plots docs/plots.md shows (the sweep writes one Pareto plot per pair of objectives)
SHOWN = ("pareto_kws_dscnn_energy_per_inference_j_vs_area_mm2.png", "energy_front_kws_dscnn.png")

def run_plots() -> list[Path]:
    arch, workload, options = load_arch(), load_workload("kws_dscnn"), RunOptions()
    r = simulate(arch, workload, options)
    return write_plots(r, IMG, dpi=DPI)


def sweep_example_plots() -> list[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        spec_file, db = Path(tmp) / "sweep.yaml", Path(tmp) / "sweep.db"
        spec_file.write_text(SWEEP)
        with contextlib.redirect_stdout(io.StringIO()):  # the sweep's own report
            code = main(["sweep", str(spec_file), "--out", str(db), "--workers", "2", "--quiet", "--json"])
        if code != 0:
            raise SystemExit("the example sweep failed")
        with open_existing(db) as store:
            recorded = json.loads(store.meta("sweep"))
            spec = SweepSpec.model_validate(recorded["spec"] if "spec" in recorded and "base" in recorded
                                            else recorded)
            records = list(store.records())
    out = []
    for name, fig in sweep_figures(summarize(records, spec), records):
        if name in SHOWN:
            fig.savefig(IMG / name, dpi=DPI, bbox_inches="tight", format="png")
            out.append(IMG / name)
    return out


if __name__ == "__main__":
    written = run_plots() + sweep_example_plots()
    sys.stderr.write("wrote " + ", ".join(str(p.relative_to(IMG.parent)) for p in written) + "\n")
