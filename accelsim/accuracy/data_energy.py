"""A network's energy at the statistics of its own data (docs/accuracy.md, "Energy of the data").

While the ideal quantised pass runs, :class:`DataRecorder` wraps its matmul and
keeps, for each layer on macros, the sum and the count of the input codes its
macros receive (im2col windows, zero padding included: a padded row drives
nothing) and its stored weight codes. Each layer's statistics, as
``macro.data`` states them (:func:`accelsim.hw.activity.data_statistics`: the
mean input over ``2**input_bits - 1``, the mean stored weight value), price
that layer's actions per inference (:func:`accelsim.mapping.evaluate.layer_counts`,
the same counts the engine books) with ``macro.data``'s means replaced by the
layer's: ``E_l = counts_l x energy per action at (x_l, w_l)``
(:func:`accelsim.cost.energy.price`, no leakage: it does not depend on the data).
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
from accelsim.hw.activity import data_statistics
from accelsim.hw.macro import input_max
from accelsim.mapping import TilePlan
from accelsim.results.accuracy import DataEnergy, LayerDataEnergy


class DataRecorder:
    """The digital (exact) matmul of the ideal pass, recording what each layer on macros receives."""

    def __init__(self, arch: ArchConfig, tile_plan: TilePlan):
        self.arch = arch
        self.on_macros = {m.layer for m in tile_plan.layers if m.unit == "macros"}
        self.sums: dict[str, tuple[float, int]] = {}
        self.weights: dict[str, float] = {}

    def __call__(self, layer, x_codes: np.ndarray, w_codes: np.ndarray) -> np.ndarray:
        if layer.name in self.on_macros:
            total, n = self.sums.get(layer.name, (0.0, 0))
            self.sums[layer.name] = (total + float(np.sum(x_codes, dtype=np.float64)), n + x_codes.size)
            if layer.name not in self.weights:
                self.weights[layer.name] = data_statistics(self.arch.macro, np.zeros(1, dtype=np.int64),
                                                           w_codes)[1]
        return digital_matmul(layer, x_codes, w_codes)

    def statistics(self) -> dict[str, tuple[float, float]]:
        """Each layer's (input mean, weight mean), fractions of full scale."""
        top = input_max(self.arch.macro)
        return {name: (total / n / top if n else 0.0, self.weights[name]) for name, (total, n) in self.sums.items()}


def at_statistics(arch: ArchConfig, input_mean: float, weight_mean: float) -> ArchConfig:
    """``arch`` with ``macro.data``'s means replaced (``arch`` itself without a data section)."""
    data = arch.macro.data
    if data is None:
        return arch
    data = data.model_copy(update={"input_mean": min(1.0, max(0.0, input_mean)),
                                   "weight_mean": min(1.0, max(0.0, weight_mean))})
    return arch.model_copy(update={"macro": arch.macro.model_copy(update={"data": data})})


def data_energy(arch: ArchConfig, tile_plan: TilePlan, stats: dict[str, tuple[float, float]]) -> DataEnergy:
    """Each layer's energy per inference at its data's statistics and at the stated ones (module docstring)."""
    from accelsim.cost.energy import price
    from accelsim.mapping.evaluate import layer_counts

    counts = layer_counts(tile_plan, arch)
    layers = []
    stated_total = data_total = 0.0
    for m in tile_plan.layers:
        c = ActionCounts(counts.get(m.layer, {}))
        stated = price(c, arch).total_j
        if m.layer in stats:
            x, w = stats[m.layer]
            priced = price(c, at_statistics(arch, x, w)).total_j
            layers.append(LayerDataEnergy(m.layer, x, w, stated, priced))
        else:
            priced = stated  # a layer in a digital unit: its energy does not follow the macro's data model
        stated_total += stated
        data_total += priced
    return DataEnergy(arch.macro.data is not None, tuple(layers), stated_total, data_total)
