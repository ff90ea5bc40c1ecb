"""Least-squares fit of the library macros' free parameters to their FITTED points only.

    python scripts/fit_macros.py

For each macro below, the free parameters ``theta`` map to dotted overrides of its
library file (configs/macros/); the residual of a fitted point is
``log(simulated / published)``, its simulated figure the model's own
(``accelsim.cost.peak_figures`` at the point's operating point). Gauss-Newton with a
forward-difference Jacobian minimises the sum of squared residuals (with as many
parameters as fitted points the minimum is an exact solve). The script then prints the
fitted values, rounded as the library file writes them, the file's own values beside
them, and the error of every point of the macro at the file's values: fitted and
predicted (no predicted point enters the fit). It does not write the files.

- wang_vlsi22 (2 parameters, 2 fitted points: 32.2 TOPS/W and 2.4 TOPS/mm2 at 0.7 V):
  the energy per MVM at 0.7 V (split between components as Fig. 22(a)'s 1 V shares,
  carried to 0.7 V by the supply model, docs/sources.md s5.4) and the clock of the 64-cycle
  MVM at 0.7 V. The 1.1 V points are predictions.
- wan_neurram_nature22 (2 parameters, 2 fitted points at (3, 1): 2.1223 TOPS on 48 cores and
  43.08 TOPS/W): the neuron cycle (the clock; the evaluation, integration and conversion-step
  times are one cycle each) and the energy per input-bit evaluation M (macro_control_pj). The
  other 16 points of Fig. 12(c, d), one- and two-phase, are predictions.
- jia_jssc20 (2 parameters, 2 fitted points at 0.85 V: 0.874 TOPS and 0.24 TOPS/mm2): the time of
  one evaluation and conversion of the 256 columns (on the file's 1 ns grid) and the bit-cell area
  (beside the assumed ADC and driver areas). Its energies are Table I's 0.85 V figures, stated, not
  fitted; 400 TOPS/W at 0.85 V and every 1.2 V figure are predictions.
- colonnade_jssc21 (2 parameters, 2 fitted points at 0.8 V: 144.35 fJ per MAC at 1b in / 8b w, and
  75.07 GOPS at 1b x 1b with one register per chain): the energy of one bit-cell's multiply and
  full-adder step (the drivers', registers' and decoder's energies follow it in Fig. 17's shares, stated)
  and the delay of one full adder on the critical path. Every other point of Fig. 15(a) and 16(b) is a
  prediction; Fig. 17's breakdowns are stated in the file.
- sinangil_jssc21 (2 parameters, 2 fitted points at 0.8 V: 351 TOPS/W at y = 6 and 610.5 at
  y = 0): the energy per MVM at the reference data and the drivers' share of the 55 % of it that
  drivers and array hold. The array's data-proportional fraction is not fitted: it is taken as 0
  (SINANGIL_ARRAY_PROPORTIONAL, an assumption). The 262.3 TOPS/W at y = 15, the Fig. 13(a)
  energies and the 1.0 V points are predictions.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from accelsim.config import load_arch  # noqa: E402
from accelsim.config.silicon import load_library  # noqa: E402
from accelsim.cost import peak_figures  # noqa: E402
from accelsim.hw.activity import supply_energy_factors  # noqa: E402

LIBRARY = ROOT / "configs" / "macros"

#: Wang et al., Fig. 22(a): energy shares at 1.0 V (docs/sources.md s5.4); misc split 1:2 digital:control
WANG_SHARES_1V = {"macro_array": 0.40, "input_drivers": 0.22, "adc": 0.34,
                  "macro_digital": 0.04 / 3, "macro_control": 0.08 / 3}


def figure(config: str, overrides: list[str], name: str) -> float:
    """One figure of the library file ``config`` with ``overrides`` (peak figures; no calibration study)."""
    p = peak_figures(load_arch(LIBRARY / config, overrides))
    return {"tops_per_w": p.tops_per_w, "tops_per_w_1b": p.tops_per_w_1b, "tops": p.macro_tops,
            "tops_per_mm2": p.macro_tops_per_mm2, "tops_per_mm2_1b": p.macro_tops_per_mm2_1b,
            "energy_per_mvm_pj": p.energy_per_mvm_pj}[name]


def wang_shares_at_reference() -> dict[str, float]:
    """Fig. 22(a)'s 1.0 V shares carried to the file's 0.7 V reference by the supply model itself
    (CV^2, and V^2 x delay for the R-2R DACs' static current), renormalised."""
    arch = load_arch(LIBRARY / "wang_vlsi22.yaml")
    s = arch.macro.supply
    macro = arch.macro.model_copy(update={"supply": s.model_copy(
        update={"voltage_v": s.reference_voltage_v, "reference_voltage_v": 1.0})})
    f = supply_energy_factors(macro)
    raw = {c: WANG_SHARES_1V[c] * f[c] for c in WANG_SHARES_1V}
    total = sum(raw.values())
    return {c: v / total for c, v in raw.items()}


def _rounder(exact: bool):
    """The rounding the library file writes its values with; none while fitting (a rounded map has a
    zero derivative between its steps)."""
    return (lambda x, n: x) if exact else round


def wang_overrides(theta: np.ndarray, exact: bool = False) -> dict[str, float]:
    round = _rounder(exact)  # noqa: A001
    energy_pj, f_mhz = theta
    share = wang_shares_at_reference()
    return {"technology.energy.cell_read_fj": round(1e3 * share["macro_array"] * energy_pj / 16384, 5),
            "technology.energy.row_drive_pj": round(share["input_drivers"] * energy_pj / 64, 5),
            "technology.energy.adc_conversion_pj": round(share["adc"] * energy_pj / 32, 5),
            "technology.energy.column_digital_pj": round(share["macro_digital"] * energy_pj / 32, 5),
            "technology.energy.macro_control_pj": round(share["macro_control"] * energy_pj, 5),
            "clock.frequency_mhz": round(f_mhz, 5), # rounded down: 64 grid cycles hold it exactly
            "macro.t_mvm_ns": 64e3 / f_mhz if exact else math.floor(64e3 / f_mhz * 1e4) / 1e4}


def neurram_overrides(theta: np.ndarray, exact: bool = False) -> dict[str, float]:
    round = _rounder(exact)  # noqa: A001
    f_mhz, control_pj = theta
    # rounded down: one neuron cycle holds in one clock period exactly
    cycle_ns = 1e3 / f_mhz if exact else math.floor(1e3 / f_mhz * 1e4) / 1e4
    return {"clock.frequency_mhz": round(f_mhz, 4), "macro.t_mvm_ns": cycle_ns,
            "macro.integration_cycle_ns": cycle_ns, "macro.adc.step_ns": cycle_ns,
            "technology.energy.macro_control_pj": round(control_pj, 1)}


def jia_overrides(theta: np.ndarray, exact: bool = False) -> dict[str, float]:
    round = _rounder(exact)  # noqa: A001
    f_mhz, cell_um2 = theta
    # one evaluation is 1350 cycles of a ~1 GHz timing grid (fine enough for the supply's delay scale);
    # the time rounded down so that the grid holds it exactly
    return {"clock.frequency_mhz": round(f_mhz, 4),
            "macro.t_mvm_ns": 1350e3 / f_mhz if exact else math.floor(1350e3 / f_mhz * 1e4) / 1e4,
            "technology.area.cell_um2": round(cell_um2, 4)}


#: Sinangil: the array's data-proportional fraction, not fitted (assumption): the array's energy is taken
#: as the precharge of its read bit lines and the reset of its computation capacitors at every access,
#: whatever the data, so that the data dependence is the word-line pulses' (macro.data.proportional)
SINANGIL_ARRAY_PROPORTIONAL = 0.0


def sinangil_overrides(theta: np.ndarray, exact: bool = False) -> dict[str, float]:
    round = _rounder(exact)  # noqa: A001
    energy_pj, drivers_share = theta
    proportional = SINANGIL_ARRAY_PROPORTIONAL
    return {"technology.energy.cell_read_fj": round(1e3 * (0.55 - drivers_share) * energy_pj / 4096, 5),
            "technology.energy.row_drive_pj": round(drivers_share * energy_pj / 64, 6),
            "technology.energy.adc_conversion_pj": round(0.30 * energy_pj / 16, 4),
            "technology.energy.column_digital_pj": round(0.05 * energy_pj / 16, 6),
            "technology.energy.macro_control_pj": round(0.10 * energy_pj, 4),
            "macro.data.proportional.macro_array": round(proportional, 4)}


#: Colonnade, Fig. 17 at 1b in / 8b w / 0.8 V: energy shares of the array, drivers, control + registers
#: and decoder, and the actions of one MVM there (128 rows x 8 bands of 15 columns, R = 16, one cycle)
COLONNADE_SHARES = {"array": 0.602, "drivers": 0.288, "registers": 0.075, "decoder": 0.035}
COLONNADE_COUNTS = {"array": 128 * 8 * 15, "drivers": 128, "registers": 16 * 8 * 15, "decoder": 1}


def colonnade_overrides(theta: np.ndarray, exact: bool = False) -> dict[str, float]:
    round = _rounder(exact)  # noqa: A001
    bitcell_fj, cell_delay_ns = theta
    array_pj = bitcell_fj * 1e-3 * COLONNADE_COUNTS["array"]
    def part(name: str) -> float:  # pJ per action of a part, from its share relative to the array's
        return array_pj * COLONNADE_SHARES[name] / COLONNADE_SHARES["array"] / COLONNADE_COUNTS[name]
    return {"technology.energy.bitcell_op_fj": round(bitcell_fj, 4),
            "technology.energy.input_line_pj": round(part("drivers"), 5),
            "technology.energy.register_bit_fj": round(1e3 * part("registers"), 4),
            "technology.energy.decoder_pj": round(part("decoder"), 4),
            "macro.digital.cell_delay_ns": round(cell_delay_ns, 5)}


@dataclass(frozen=True)
class Fit:
    config: str
    parameters: tuple[str, ...]
    start: tuple[float, ...]
    overrides: Callable[..., dict[str, float]]
    #: the figures of the fitted points the parameters are tuned to (None: every fitted point); a fitted
    #: point of another figure holds a figure the file states as published (sourced, not tuned)
    figures: tuple[str, ...] | None = None
    #: relative step of the forward differences: larger than the timing grid's step where a fitted time
    #: is counted in whole grid cycles (a step inside one grid cycle has a zero difference)
    relative_step: float = 1e-6


def tuned(fit: Fit, point) -> bool:
    """Whether ``point`` is one that ``fit``'s parameters are tuned to."""
    return point.status == "fitted" and (fit.figures is None or point.figure in fit.figures)


FITS = (
    Fit("wang_vlsi22.yaml", ("energy per MVM at 0.7 V (pJ)", "clock at 0.7 V (MHz, 64 cycles per MVM)"),
        (120.0, 4000.0), wang_overrides),
    Fit("wan_neurram_nature22.yaml", ("neuron cycle clock (MHz)", "energy per input-bit evaluation M (pJ)"),
        (4.0, 900.0), neurram_overrides),
    Fit("jia_jssc20.yaml", ("clock at 0.85 V (MHz, 1350 cycles per evaluation)", "bit-cell area (um2)"),
        (1000.0, 5.0), jia_overrides, ("tops", "tops_per_mm2")),
    Fit("colonnade_jssc21.yaml", ("bit-cell step energy at 0.8 V (fJ)", "full-adder delay at 0.8 V (ns)"),
        (5.0, 0.4), colonnade_overrides, ("tops_per_w", "tops"), 1e-2),
    Fit("sinangil_jssc21.yaml", ("energy per MVM at y = 6 (pJ)", "drivers' share"),
        (6.0, 0.3), sinangil_overrides),
)


def points_of(config: str):
    index, _ = load_library()
    entry = next(e for e in index.macros if e.config == config)
    return entry.points


def residuals(fit: Fit, theta: np.ndarray) -> np.ndarray:
    ov = [f"{k}={float(v)!r}" for k, v in fit.overrides(theta, exact=True).items()]
    return np.array([math.log(figure(fit.config, ov + list(p.overrides), p.figure) / p.published)
                     for p in points_of(fit.config) if tuned(fit, p)])


def gauss_newton(fit: Fit, steps: int = 30) -> np.ndarray:
    theta = np.array(fit.start, dtype=float)
    for _ in range(steps):
        r = residuals(fit, theta)
        jac = np.empty((len(r), len(theta)))
        for j in range(len(theta)):
            h = fit.relative_step * max(abs(theta[j]), 1e-3)
            t = theta.copy()
            t[j] += h
            jac[:, j] = (residuals(fit, t) - r) / h
        delta = np.linalg.lstsq(jac, -r, rcond=None)[0]
        theta = theta + delta
        if np.max(np.abs(delta) / np.maximum(np.abs(theta), 1e-9)) < 1e-12:
            break
    return theta


def file_value(config: str, dotted: str) -> float:
    node = load_arch(LIBRARY / config)
    for part in dotted.split("."):
        node = getattr(node, part)
    return float(node)


def main() -> int:
    ok = True
    for fit in FITS:
        theta = gauss_newton(fit)
        print(f"{fit.config}: {len(fit.parameters)} parameters fitted to "
              f"{sum(tuned(fit, p) for p in points_of(fit.config))} fitted points "
              f"(sum of squared log residuals {float(np.sum(residuals(fit, theta) ** 2)):.3g})")
        for name, value in zip(fit.parameters, theta):
            print(f"  {name} = {value:.6g}")
        if fit.config == "wang_vlsi22.yaml":
            print("  shares at 0.7 V: " + ", ".join(f"{c} {100 * s:.2f} %" for c, s in wang_shares_at_reference().items()))
        for key, value in fit.overrides(theta).items():
            value = float(value)
            held = file_value(fit.config, key)
            same = math.isclose(held, value, rel_tol=1e-9, abs_tol=0.0)
            ok &= same
            print(f"  {key}: fitted {value!r}, file {held!r}{'' if same else '  <- DIFFERS'}")
        for p in points_of(fit.config):
            sim = figure(fit.config, list(p.overrides), p.figure)
            print(f"  {p.status:9s} {p.sweep:22s} {p.figure:18s} {' '.join(p.overrides) or '(file)':60s} "
                  f"published {p.published:<8g} simulated {sim:<10.5g} error {100 * (sim / p.published - 1):+.2f} %")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
