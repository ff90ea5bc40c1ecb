"""Rendering of an accuracy study: the four accuracies, the dies, and the per-layer MAC error."""

from __future__ import annotations

from pathlib import Path

from accelsim.report.console import Col, table
from accelsim.results.accuracy import AccuracyStudy

FIGURES = (("float (software)", "accuracy_float"), ("ideal quantised", "accuracy_ideal"),
           ("analog, uncalibrated", "accuracy_uncalibrated"), ("analog, calibrated", "accuracy_calibrated"))
LAYER_COLUMNS = (Col("layer", "name"), Col("macros", "count"), Col("MVMs", "count"),
                 Col("ADC LSB (MAC units)", "num"), Col("RMSE uncal. (LSB)", "num"),
                 Col("RMSE cal. (LSB)", "num"), Col("SQNR uncal. (dB)", "num"), Col("SQNR cal. (dB)", "num"))


def _pct(value: float) -> str:
    return f"{100 * value:.2f} %"


def accuracy_table(study: AccuracyStudy):
    """The four accuracies (die 0: the chip of the run's seed)."""
    rows = [(name, _pct(getattr(study, key))) for name, key in FIGURES]
    title = (f"accuracy of {study.workload} on {study.arch} ({study.samples:,} samples of "
             f"{Path(study.dataset).name}, seed {study.seed})")
    t = table(title, ("inference", "top-1"), rows, [False, True])
    cal = study.calibration
    if cal:
        name = Path(cal.source).name or "an unnamed set"
        where = f"of {name}, the test set itself" if cal.from_test_set else f"of {name}"
        t.caption = f"calibration batch: {cal.samples:,} samples {where}"
        t.caption_justify = "left"
    return t


def figures_table(study: AccuracyStudy):
    """The four accuracies alone, as ``run --accuracy`` adds them."""
    return table("accuracy", ("inference", "top-1"),
                 [(name, _pct(getattr(study, key))) for name, key in FIGURES], [False, True])


def dies_table(study: AccuracyStudy):
    """Per-die accuracies and their mean, minimum and 5th percentile (a study of several dies)."""
    rows = [(d.die, d.seed, _pct(d.accuracy_uncalibrated), _pct(d.accuracy_calibrated)) for d in study.dies]
    s = study.dies_summary
    for stat in ("mean", "min", "p5"):
        rows.append((stat, "", _pct(getattr(s.uncalibrated, stat)), _pct(getattr(s.calibrated, stat))))
    return table(f"{s.count} dies", ("die", "seed", "uncalibrated", "calibrated"), rows,
                 [False, True, True, True])


def layer_rows(study: AccuracyStudy):
    for e in study.layers:
        yield (e.layer, e.macros, e.mvms, e.adc_lsb_mac, e.rmse_lsb_uncalibrated, e.rmse_lsb_calibrated,
               e.sqnr_db_uncalibrated, e.sqnr_db_calibrated)


def layer_table(study: AccuracyStudy):
    t = table("MAC error per layer (tile outputs against the ideal integer products, die 0)",
              LAYER_COLUMNS, layer_rows(study))
    t.caption = "uncal. / cal.: before / after calibration"
    return t


def data_energy_table(study: AccuracyStudy):
    """Each layer on macros: the means of what its macros received, and its energy at the stated
    statistics and at those (None when the study has none)."""
    d = study.data_energy
    if d is None:
        return None
    rows = [(e.layer, e.input_mean, e.weight_mean, e.energy_stated_j, e.energy_data_j,
             e.energy_data_j / e.energy_stated_j - 1 if e.energy_stated_j else 0.0) for e in d.layers]
    footer = ("network (all layers)", "", "", d.total_stated_j, d.total_data_j,
              d.total_data_j / d.total_stated_j - 1 if d.total_stated_j else 0.0)
    t = table("energy per inference of the network's own data (the ideal quantised inputs of each layer's macros; "
              "no leakage)",
              (Col("layer", "name"), Col("input mean", "pct"), Col("weight mean", "pct"),
               Col("at stated statistics", "si", "J"), Col("at its data", "si", "J"), Col("change", "pct")),
              rows, footer=footer)
    t.caption = ("means: fractions of full scale, as macro.data states them" if d.follows_data else
                 "the architecture has no macro.data section: its energy does not depend on the data, "
                 "both columns are the table's (docs/accuracy.md, Energy of the data)")
    t.caption_justify = "left"
    return t
