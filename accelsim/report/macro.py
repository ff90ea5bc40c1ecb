"""Rendering of a macro characterisation: rich tables and flat CSV rows."""

from __future__ import annotations

from rich.console import Console, Group
from rich.text import Text

from accelsim.report.console import Col, count, si, sig, table
from accelsim.results.macro import MacroCharacterization


def _share_rows(parts: dict[str, float], scale: float = 1.0) -> list[tuple[str, float, float]]:
    total = sum(parts.values()) or 1.0
    return [(name, value * scale, value / total) for name, value in parts.items()]


def macro_tables(c: MacroCharacterization) -> Group:
    """The characterisation of one macro design as rich renderables."""
    cal = c.calibration
    supply = "" if c.supply_v is None else f", {c.supply_v:g} V"
    # a digital macro converts nothing: its outputs are exact sums
    converters = f"{c.adc_count} ADCs of {c.adc_bits} b" if c.adc_count else "no ADC (exact digital sums)"
    title = (f"{c.arch_name}: {c.rows} x {c.physical_columns} {c.cell_technology} macro, {c.bits_per_cell} b/cell, "
             f"{c.weight_bits} b weights ({c.weight_encoding}, slices combined {c.slice_combine}), "
             f"{c.input_bits} b inputs ({c.input_mode}), {c.readout}, {converters}{supply}")
    scale = c.input_bits * c.weight_bits
    perf = table(
        f"Peak performance (1b = native x B_in x B_w = x{scale}; 1 MAC = 2 ops)",
        (Col("figure", "text"), Col("native", "num"), Col("1-bit normalised", "num")),
        [
            ("ops per MVM", c.ops_per_mvm, c.ops_per_mvm_1b),
            ("TOPS per macro", c.tops, c.tops_1b),
            (f"TOPS, chip of {c.macros} macros", c.chip_tops, c.chip_tops_1b),
            ("TOPS/W (macro energy per MVM, incl. leakage)", c.tops_per_w, c.tops_per_w_1b),
            ("TOPS/mm² (one macro's area)", c.tops_per_mm2, c.tops_per_mm2_1b),
            (f"TOPS/mm² (chip of {c.macros} macros, chip area)", c.chip_tops_per_mm2, c.chip_tops_per_mm2_1b),
        ],
    )
    timing = table(
        "One MVM (a level is one cell digit read with one input step)",
        (Col("figure", "text"), Col("value", "text")),
        [
            ("t_MVM", si(c.t_mvm_ns * 1e-9, "s")),
            ("clock cycles", count(c.cycles_per_mvm)),
            ("analog evaluations", count(c.evaluations_per_mvm)),
            ("ADC conversions", count(c.conversions_per_mvm)),
            ("MACs", count(c.macs_per_mvm)),
            ("ADC LSB", f"{sig(c.adc_lsb_levels)} levels"),
            ("cell levels", ", ".join(f"{r:g}" for r in c.cell_levels) + f" {c.cell_level_unit}"),
            ("read levels", ", ".join(f"{v:.3f}" for v in c.read_levels) + " levels"),
            ("readout INL", f"{sig(c.readout_inl_levels)} levels"),
        ],
    )
    energy = table("Energy per MVM by component",
                   (Col("component", "name"), Col("energy", "si", "J"), Col("share", "pct")),
                   _share_rows(c.energy_per_mvm_by_component_pj, 1e-12),
                   footer=["total", c.energy_per_mvm_pj * 1e-12, 1.0])
    area = table("Macro area by component",
                 (Col("component", "name"), Col("area (mm²)", "num"), Col("share", "pct")),
                 _share_rows(c.area_by_component_mm2), footer=["total", c.area_mm2, 1.0])
    b, a, f = cal.before, cal.after, cal.floor
    errors = table(
        f"MAC error over {cal.macros} macros (seed {cal.seed}, {cal.eval_vectors} test vectors each; "
        f"RMSE in ADC LSBs of {sig(cal.adc_lsb_levels)} levels)",
        (Col("metric", "text"), Col("before calibration", "num"), Col("after calibration", "num"),
         Col("ideal devices", "num")),
        [
            ("RMSE (LSB), mean", b.rmse_lsb_mean, a.rmse_lsb_mean, f.rmse_lsb_mean),
            ("RMSE (LSB), 95th percentile", b.rmse_lsb_p95, a.rmse_lsb_p95, f.rmse_lsb_p95),
            ("RMSE (LSB), worst macro", b.rmse_lsb_worst, a.rmse_lsb_worst, f.rmse_lsb_worst),
            ("SQNR (dB), mean", b.sqnr_db_mean, a.sqnr_db_mean, f.sqnr_db_mean),
            ("SQNR (dB), 5th percentile", b.sqnr_db_p5, a.sqnr_db_p5, f.sqnr_db_p5),
            ("SQNR (dB), worst macro", b.sqnr_db_worst, a.sqnr_db_worst, f.sqnr_db_worst),
        ],
    )
    note = Text(
        f"Calibration: {cal.vectors} known vectors per macro{' (x2 with ADC trim)' if cal.adc_trim else ''}, "
        f"{si(c.calibration_time_ns_per_macro * 1e-9, 's')} and {si(c.calibration_energy_pj_per_macro * 1e-12, 'J')} "
        "per macro; "
        f"worst-macro RMSE reduced {cal.worst_rmse_reduction:.2f}x."
    )
    parts = [Text(title, style="bold"), perf, timing, energy]
    if c.data is not None:
        parts.append(_data_table(c.data))
    return Group(*parts, area, errors, note)


#: the data statistics' rows: (label, key)
_DATA_ROWS = (("input value", "input_value"), ("input 1-bits", "input_ones"), ("weight value", "weight_value"),
              ("cell draw", "cell"), ("stored 1-bits", "weight_ones"))


def _data_table(data: dict):
    """The statistics the energy above was priced at, beside the table's reference, and each data
    component's activity ratio."""
    stated, ref, activity = data["stated"], data["reference"], data["activity"]
    rows = [(label, stated[key], ref[key]) for label, key in _DATA_ROWS]
    rows += [(f"activity: {c}", activity[c], 1.0) for c in activity]
    return table("Data the energy follows (macro.data; fractions of full scale, activity over the reference's)",
                 (Col("statistic", "text"), Col("priced at", "num"), Col("reference", "num")), rows)


def print_macro(console: Console, c: MacroCharacterization) -> None:
    console.print(macro_tables(c))
