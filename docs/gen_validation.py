"""Write docs/validation.md from the macro library: ``python docs/gen_validation.py > docs/validation.md``.

Every figure in the page is computed by ``accelsim.api.validate_silicon``; a
test keeps the committed page equal to this script's output.
"""

from __future__ import annotations

import sys

from accelsim.api import validate_silicon

INTRO = """\
# Validation against published silicon

accelsim's macro model and cost tables describe other published IMC macros
besides the default one: `configs/macros/` holds one whole architecture file
per published macro (so `accelsim macro --arch configs/macros/<name>.yaml`
characterises it) and an index, `configs/macros/validation.yaml`, of the
figures each paper publishes, at which operating point, and whether a
parameter was tuned to it. `accelsim silicon` characterises every point and
prints the published figure, the simulated one and the relative error.

```console
$ accelsim silicon
$ accelsim silicon --json
$ accelsim silicon --check --csv
$ accelsim silicon --library configs/macros/nope.yaml  # exits 2
```

`--json` prints `fitted_tolerance`, `predicted_tolerance`,
`all_within_tolerance` and, per macro, `paper`, `free_parameters`, `limits`,
`fitted_points`, `predicted_points` and `points` (each with `figure`,
`normalisation`, `scope`, `operating_point`, `status`, `published`,
`simulated`, `relative_error`, `tolerance`, `within_tolerance`). `--check`
exits 1 when a point is outside its tolerance. From Python:

```python
from accelsim.api import validate_silicon

v = validate_silicon()
assert v.all_within_tolerance
print(max(abs(p.relative_error) for p in v.points))
```

## Method: calibration is not validation

A published point is **fitted** when a parameter of the macro's file was
tuned to reproduce it: matching it is calibration, and only shows that the
model's structure can hold the figure with sourced or stated parameters. A
point is **predicted** when no parameter was tuned to it: matching it is
validation. The test suite fails when a fitted point drifts more than 5 %
from its published value, or a predicted one more than 25 %.

Normalisation: *native* counts one MAC as 2 ops at the macro's own precision;
*1-bit normalised* multiplies by input bits x weight bits ([docs/sources.md s1.3](sources.md#s1.3)).
Scope: every simulated figure is one macro's (peak, a full tile); *chip* marks
a published figure measured on a whole chip, whose overheads the macro model
only holds inside a fitted term.

Be clear about how little the published record constrains: the papers give
two or three figures per macro, and their bodies (array organisation, energy
splits, clocks) were not available. Where the abstract states a parameter
(array size, bits, access time, macro area, input and weight schemes), the file
uses it; everything else is a commented assumption; the energy and time
scales are fitted.
"""

MODEL = """\
## What a config can describe

| option | values | what changes |
|---|---|---|
| `macro.cell.technology` | `mtj_stack` (default), `mtj_binary`, `rram`, `sram_charge` | the stored quantity per level: MTJ resistance `R_P sum_k r^k (1 + s_k TMR)` (`macro.mtj`); RRAM conductance `G_min + d (G_max - G_min)/(2^b - 1)` (`macro.cell.rram`); SRAM charge `d C V` (`macro.cell.sram`). Binary MTJ and SRAM cells hold 1 bit. `variation.cell_sigma_r` spreads that quantity (per MTJ under `cell_spread: device`, the default; per level under `level`) |
| `macro.readout` | `resistance_sum`, `current_sum`, `charge_sum` | MTJ: resistance or conductance sum; RRAM: current sum; SRAM: charge sum |
| `macro.input_mode` | `bit_parallel`, `bit_serial`, `pulse_width` | evaluations per MVM (B_in when bit-serial, else 1); pulse-width adds `(2^B_in - 1) x input_pulse_ns` to the evaluation |
| `macro.serial_accumulation` | `digital`, `analog` | bit-serial: convert each bit and shift-add, or integrate the bits with binary weights and convert once |
| `macro.slice_combine` | `digital`, `analog` | convert every cell column, or sum a weight's slice columns with weights `2^(b s)` before one conversion (weighted multi-column readout, binary-weighted capacitors, C-2C ladder) |
| `macro.adc.count` | <= converted columns | ADC sharing: `ceil(converted columns / count)` conversion rounds per evaluation |
| `macro.supply` | `voltage_v`, `reference_voltage_v`, `threshold_voltage_v`, `alpha` | macro energies x `(V/V_ref)^2`; macro times x `(V/V_ref) ((V_ref - V_th)/(V - V_th))^alpha` (alpha-power law) |
| `technology.energy.input_reference_bits` | input bits of the table's cell and driver figures | bit-parallel: driver energy x `B_in / B_ref` (one binary-weighted segment per bit); pulse-width: cell and driver energy x `(2^B_in - 1)/(2^B_ref - 1)` (current flows, the driver toggles, per unit pulse); bit-serial: per-evaluation figures, the evaluation count carries the width |
| `technology.energy.adc_energy_doubling_per_bit` | k | conversion energy `E_ref 2^(k (b - b_ref))`: 1 for a flash or counting converter (one comparator or step per code), ~0.3-0.5 for SAR |

With every non-ideality off and enough ADC bits, the functional model equals
the integer matmul for every cell model, input scheme, accumulation and slice
combination (a property test covers them). Omitted fields keep mram72's
behaviour, so `configs/mram72.yaml` and its figures are unchanged.
"""


def _pct(x: float) -> str:
    return f"{100 * x:+.2f} %"


def _num(x: float) -> str:
    return f"{x:.4g}"


def render() -> str:
    v = validate_silicon()
    out = [INTRO, "## Free parameters against published points\n",
           "| macro | paper | published points | fitted | predicted | free parameters (fitted to) |",
           "|---|---|---:|---:|---:|---|"]
    for m in v.macros:
        params = "<br>".join(m.free_parameters)
        out.append(f"| {m.name} | {m.paper} | {len(m.points)} | {m.fitted_points} | {m.predicted_points} | "
                   f"{params} |")
    total = len(v.points)
    fitted = sum(m.fitted_points for m in v.macros)
    out += ["", (f"In all: {total} published points, {fitted} fitted, {total - fitted} predicted. The one "
            "predicted point (Sinangil's throughput) follows from the published access time and MAC count "
            "alone: it checks the timing model's bookkeeping, not its physics."), "",
            "## The table (generated by docs/gen_validation.py)", "",
            ("| macro | figure | normalisation | scope | operating point | status | published | simulated "
            "| error | tolerance |"),
            "|---|---|---|---|---|---|---:|---:|---:|---:|"]
    for p in v.points:
        op = p.operating_point + (f" ({', '.join(p.overrides)})" if p.overrides else "")
        out.append(f"| {p.macro} | {p.unit} | {p.normalisation} | {p.scope} | {op} | {p.status} | "
                   f"{_num(p.published)} | {_num(p.simulated)} | {_pct(p.relative_error)} | "
                   f"{100 * p.tolerance:.0f} % |")
    out += ["", MODEL, "## Limits of each model", ""]
    for m in v.macros:
        out.append(f"- **{m.name}** ({m.config}): {m.limits}")
    out += ["", ("Common to all: energy per action does not depend on the data; peak figures use a full "
            "tile; the supply model is not tested against a published sweep (the index has one voltage "
            "per macro; the voltage sweeps of [docs/sources.md s5](sources.md#s5) are not among its points), "
            "so its CV^2 and alpha-power-law rules are physics, not validation."), ""]
    return "\n".join(out)


if __name__ == "__main__":
    sys.stdout.write(render())
