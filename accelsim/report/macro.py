"""Rendering of a macro characterisation: rich tables and flat CSV rows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rich.console import Console, Group
from rich.text import Text

from accelsim.report.console import fmt, table
from accelsim.results.macro import MacroCharacterization


def _share_rows(parts: dict[str, float]) -> list[tuple[str, float, str]]:
    total = sum(parts.values())
    return [(name, value, f"{100 * value / total:.1f} %") for name, value in parts.items()]


def macro_tables(c: MacroCharacterization) -> Group:
    """The characterisation of one macro design as rich renderables."""
    cal = c.calibration
    supply = "" if c.supply_v is None else f", {c.supply_v:g} V"
    title = (f"{c.arch_name}: {c.rows} x {c.physical_columns} {c.cell_technology} macro, {c.bits_per_cell} b/cell, "
             f"{c.weight_bits} b weights ({c.weight_encoding}, slices combined {c.slice_combine}), "
             f"{c.input_bits} b inputs ({c.input_mode}), {c.readout}, {c.adc_count} ADCs of {c.adc_bits} b{supply}")
    scale = c.input_bits * c.weight_bits
    perf = table(
        f"Peak performance (1b = native x B_in x B_w = x{scale}; 1 MAC = 2 ops)",
        ("figure", "native", "1-bit normalised"),
        [
            ("ops per MVM", c.ops_per_mvm, c.ops_per_mvm_1b),
            ("TOPS per macro", c.tops, c.tops_1b),
            (f"TOPS, chip of {c.macros} macros", c.chip_tops, c.chip_tops_1b),
            ("TOPS/W (macro energy per MVM, incl. leakage)", c.tops_per_w, c.tops_per_w_1b),
            ("TOPS/mm2 (one macro's area)", c.tops_per_mm2, c.tops_per_mm2_1b),
        ],
        numeric=[False, True, True],
    )
    timing = table(
        "One MVM",
        ("figure", "value"),
        [
            ("t_MVM (ns)", c.t_mvm_ns),
            ("clock cycles", c.cycles_per_mvm),
            ("analog evaluations", c.evaluations_per_mvm),
            ("ADC conversions", c.conversions_per_mvm),
            ("MACs", c.macs_per_mvm),
            ("ADC LSB (levels)", c.adc_lsb_levels),
            (f"cell levels ({c.cell_level_unit})", ", ".join(f"{r:g}" for r in c.cell_levels)),
            ("read levels (level units)", ", ".join(f"{v:.3f}" for v in c.read_levels)),
            ("readout INL (levels)", c.readout_inl_levels),
        ],
        numeric=[False, True],
    )
    energy = table("Energy per MVM by component", ("component", "pJ", "share"),
                   _share_rows(c.energy_per_mvm_by_component_pj), numeric=[False, True, True],
                   footer=["total", c.energy_per_mvm_pj, "100.0 %"])
    area = table("Macro area by component", ("component", "mm2", "share"),
                 _share_rows(c.area_by_component_mm2), numeric=[False, True, True],
                 footer=["total", c.area_mm2, "100.0 %"])
    b, a, f = cal.before, cal.after, cal.floor
    errors = table(
        f"MAC error over {cal.macros} macros (seed {cal.seed}, {cal.eval_vectors} test vectors each; "
        f"ADC LSB = {fmt(cal.adc_lsb_levels)} MAC units)",
        ("metric", "before calibration", "after calibration", "ideal devices"),
        [
            ("RMSE (LSB), mean", b.rmse_lsb_mean, a.rmse_lsb_mean, f.rmse_lsb_mean),
            ("RMSE (LSB), 95th percentile", b.rmse_lsb_p95, a.rmse_lsb_p95, f.rmse_lsb_p95),
            ("RMSE (LSB), worst macro", b.rmse_lsb_worst, a.rmse_lsb_worst, f.rmse_lsb_worst),
            ("SQNR (dB), mean", b.sqnr_db_mean, a.sqnr_db_mean, f.sqnr_db_mean),
            ("SQNR (dB), 5th percentile", b.sqnr_db_p5, a.sqnr_db_p5, f.sqnr_db_p5),
            ("SQNR (dB), worst macro", b.sqnr_db_worst, a.sqnr_db_worst, f.sqnr_db_worst),
        ],
        numeric=[False, True, True, True],
    )
    note = Text(
        f"Calibration: {cal.vectors} known vectors per macro{' (x2 with ADC trim)' if cal.adc_trim else ''}, "
        f"{fmt(c.calibration_time_ns_per_macro)} ns and {fmt(c.calibration_energy_pj_per_macro)} pJ per macro; "
        f"worst-macro RMSE reduced {cal.worst_rmse_reduction:.2f}x."
    )
    return Group(Text(title, style="bold"), perf, timing, energy, area, errors, note)


def print_macro(console: Console, c: MacroCharacterization) -> None:
    console.print(macro_tables(c))


def flat_rows(data: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(dotted.key, value)`` rows of a nested dict, lists joined by spaces (for CSV)."""
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from flat_rows(value, name + ".")
        elif isinstance(value, (list, tuple)):
            yield name, " ".join(str(v) for v in value)
        else:
            yield name, value


def csv_rows(c: MacroCharacterization) -> Iterator[tuple[str, Any]]:
    """``(dotted.key, value)`` rows of the characterisation's JSON (``accelsim macro --csv``)."""
    return flat_rows(c.to_dict())
