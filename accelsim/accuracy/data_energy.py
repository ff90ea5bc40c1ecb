"""A network's energy at the statistics of its own data (docs/accuracy.md, "Energy of the data").

While the ideal quantised pass runs, :class:`DataRecorder` wraps its matmul and
keeps, for each layer on macros, how often each input code reached its macros
(im2col windows, zero padding included: a padded row drives nothing) and how
often each weight value is stored. Those histograms, as ``macro.data`` states
data (``input_histogram``, ``weight_histogram``; :mod:`accelsim.hw.activity`:
exact 1-bits of a bit-serial input, exact draw of every cell), price that
layer's actions per inference (:func:`accelsim.mapping.evaluate.layer_counts`,
the same counts the engine books): ``E_l = counts_l x energy per action at the
layer's data`` (:func:`accelsim.cost.energy.price`, no leakage: it does not
depend on the data). The report gives each layer's mean input and weight (over
full scale), the histograms' means.
Beside it, ``counts_l`` priced at the architecture's stated statistics. Without a
``macro.data`` section the energy does not follow the data: both are the table's.

The inputs are those of the ideal quantised network, not of the analog chip,
whose errors change each layer's inputs a little: the statistics of what the
network presents, the same for every die.
"""

from __future__ import annotations

import numpy as np

from accelsim.accuracy.analog import digital_matmul
from accelsim.config import ArchConfig
from accelsim.counts import ActionCounts
from accelsim.hw.activity import input_statistics, weight_statistics, with_data
from accelsim.hw.macro import checked_integers, input_max, weight_range
from accelsim.mapping import TilePlan
from accelsim.results.accuracy import DataEnergy, LayerDataEnergy


class DataRecorder:
    """The digital (exact) matmul of the ideal pass, recording what each layer on macros receives."""

    def __init__(self, arch: ArchConfig, tile_plan: TilePlan):
        self.arch = arch
        self.on_macros = {m.layer for m in tile_plan.layers if m.unit == "macros"}
        self.inputs: dict[str, np.ndarray] = {}
        self.weights: dict[str, np.ndarray] = {}

    def __call__(self, layer, x_codes: np.ndarray, w_codes: np.ndarray) -> np.ndarray:
        if layer.name in self.on_macros:
            macro = self.arch.macro
            counts = np.bincount(np.asarray(x_codes, dtype=np.int64).ravel(), minlength=input_max(macro) + 1)
            seen = self.inputs.get(layer.name)
            self.inputs[layer.name] = counts if seen is None else seen + counts
            if layer.name not in self.weights:
                low, high = weight_range(macro)
                w = checked_integers(w_codes, "weights", low, high, f"weight_bits={macro.weight_bits}, signed")
                self.weights[layer.name] = np.bincount((w.astype(np.int64) - low).ravel(), minlength=high - low + 1)
        return digital_matmul(layer, x_codes, w_codes)

    def statistics(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Each layer's (input histogram, weight histogram): how often each input value
        ``0 .. 2**B_in - 1`` and each signed weight value ``-2**(B_w-1) ..`` occurred."""
        return {name: (counts, self.weights[name]) for name, counts in self.inputs.items()}


def at_histograms(arch: ArchConfig, input_histogram, weight_histogram) -> ArchConfig:
    """``arch`` with ``macro.data`` stating the data by these histograms (``arch`` itself without a
    data section); a histogram with no entries (nothing received) stands for inputs all 0."""
    inputs = tuple(float(v) for v in input_histogram)
    if not sum(inputs) > 0:
        inputs = (1.0,) + (0.0,) * (len(inputs) - 1)
    return with_data(arch, input_mean=None, weight_mean=None, input_histogram=inputs,
                     weight_histogram=tuple(float(v) for v in weight_histogram))


def data_energy(arch: ArchConfig, tile_plan: TilePlan, stats: dict[str, tuple[float, float]]) -> DataEnergy:
    """Each layer's energy per inference at its data's statistics and at the stated ones (module docstring)."""
    from accelsim.config.members import arch_of_chip, is_mixed
    from accelsim.cost.energy import price
    from accelsim.mapping.evaluate import layer_counts

    counts = layer_counts(tile_plan, arch)
    layers = []
    stated_total = data_total = 0.0
    for m in tile_plan.layers:
        c = ActionCounts(counts.get(m.layer, {}))
        # a system of different chips: a layer is priced on the chip its first round runs on (r mod N)
        own = arch_of_chip(arch, m.rounds[0] % arch.chips) if is_mixed(arch) and m.rounds else arch
        stated = price(c, own).total_j
        if m.layer in stats:
            inputs, weights = stats[m.layer]
            x = input_statistics(own.macro, inputs)[0] if np.sum(inputs) > 0 else 0.0
            w = weight_statistics(own.macro, weights)[0]
            priced = price(c, at_histograms(own, inputs, weights)).total_j
            layers.append(LayerDataEnergy(m.layer, x, w, stated, priced))
        else:
            priced = stated  # a layer in a digital unit: its energy does not follow the macro's data model
        stated_total += stated
        data_total += priced
    return DataEnergy(arch.macro.data is not None, tuple(layers), stated_total, data_total)
