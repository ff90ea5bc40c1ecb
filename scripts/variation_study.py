"""Accuracy against device variation, before and after calibration: the plot in docs/accuracy.md.

Run: ``python scripts/variation_study.py [--samples N] [--out docs/variation_study.png]``.

Two sweeps of the shipped KWS model on mram72 as deployed (its 6-bit ADCs
ranged on the calibration batch, the offset removed in analog):

(a) the per-macro and per-column gain and offset sigmas and the read noise,
    all scaled by one factor (1 = the mram72 values), without cell spread:
    what two-point per-column calibration is built to remove;
(b) the per-cell spread ``cell_sigma_r`` from 0 to 5 % (docs/sources.md s1.8:
    3-5 %), the other sigmas at their mram72 values.

Prints a table (JSON with --json) and writes the PNG. Needs matplotlib.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from accelsim.accuracy.study import evaluate_accuracy, load_calibration_set, load_test_set
from accelsim.accuracy.weights import load_weights
from accelsim.config import load_arch
from accelsim.report.progress import progress_bar
from accelsim.workload import load_workload

ADC: list[str] = []  # mram72's own ADC
SCALED = ("macro_gain_sigma", "macro_offset_sigma_lsb", "column_gain_sigma", "column_offset_sigma_lsb",
          "read_noise_sigma_lsb")
FACTORS = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0)
CELL_SIGMAS = (0.0, 0.01, 0.02, 0.03, 0.04, 0.05)


def sweep(samples: int, seed: int) -> dict:
    base = load_arch("mram72")
    workload = load_workload("kws_dscnn")
    weights = load_weights(workload)
    test = load_test_set(workload, samples=samples)
    calibration = load_calibration_set(workload)  # the batch of the whole-set run, whatever the subset
    v = base.macro.variation
    out: dict = {"samples": len(test), "seed": seed, "gain_offset": [], "cell_spread": []}

    def point(overrides):
        study = evaluate_accuracy(load_arch("mram72", ADC + overrides), workload, test, weights=weights,
                                  seed=seed, calibration=calibration)
        out.setdefault("float", study.accuracy_float)
        out.setdefault("ideal", study.accuracy_ideal)
        return {"uncalibrated": study.accuracy_uncalibrated, "calibrated": study.accuracy_calibrated}

    total = len(FACTORS) + len(CELL_SIGMAS)
    with progress_bar("variation study", "points") as update:  # on stderr, when it is a terminal
        for f in FACTORS:
            over = [f"macro.variation.{k}={getattr(v, k) * f}" for k in SCALED] + ["macro.variation.cell_sigma_r=0"]
            out["gain_offset"].append({"factor": f, **point(over)})
            update(len(out["gain_offset"]), total)
        for s in CELL_SIGMAS:
            out["cell_spread"].append({"cell_sigma_r": s, **point([f"macro.variation.cell_sigma_r={s}"])})
            update(len(out["gain_offset"]) + len(out["cell_spread"]), total)
    return out


def plot(data: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    panels = (("gain_offset", "factor", "gain, offset and read-noise sigmas (x mram72)"),
              ("cell_spread", "cell_sigma_r", "cell spread sigma_R/R"))
    for ax, (key, x_key, label) in zip(axes, panels):
        xs = [p[x_key] * (100 if x_key == "cell_sigma_r" else 1) for p in data[key]]
        for kind, style in (("uncalibrated", "o--"), ("calibrated", "s-")):
            ax.plot(xs, [100 * p[kind] for p in data[key]], style, label=kind)
        ax.axhline(100 * data["ideal"], color="grey", lw=1, ls=":", label="ideal quantised")
        ax.axhline(100 * data["float"], color="black", lw=1, ls=":", label="float")
        ax.set_xlabel(label + (" (%)" if x_key == "cell_sigma_r" else ""))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("top-1 accuracy (%)")
    axes[0].legend(fontsize=8, loc="lower left")
    fig.suptitle(f"kws_dscnn on mram72 (6-bit ranged ADCs), {data['samples']:,} test clips, seed {data['seed']}",
                 fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=80)
    tmp.replace(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("docs/variation_study.png"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    data = sweep(args.samples, args.seed)
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(f"float {data['float']:.4f}, ideal quantised {data['ideal']:.4f}")
        for p in data["gain_offset"]:
            print(f"gain/offset x{p['factor']:<5} uncalibrated {p['uncalibrated']:.4f} calibrated {p['calibrated']:.4f}")
        for p in data["cell_spread"]:
            print(f"cell_sigma_r {p['cell_sigma_r']:<5} uncalibrated {p['uncalibrated']:.4f} "
                  f"calibrated {p['calibrated']:.4f}")
    plot(data, args.out)


if __name__ == "__main__":
    main()
