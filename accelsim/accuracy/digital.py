"""A digital bit-serial macro's accuracy: the exact path (docs/accuracy.md, "Digital macros").

A digital CIM macro (``macro.compute: digital_bit_serial``) has no device
population, converter or noise: each macro computes its tile's product bit by
bit, exactly (:func:`accelsim.hw.digital.digital_mvm`). Its "analog" pass runs
every layer on macros tile by tile as the plan places them (one replica: every
copy computes the same product), through that model, the row tiles' partial
sums added as the digital unit adds them; there is nothing to calibrate, so
the uncalibrated and the calibrated accuracy are the same pass, and every die is
the same chip. The per-layer error is measured against the tiles' ideal integer
products in units of one MAC (the output's LSB).
"""

from __future__ import annotations

import numpy as np

from accelsim.accuracy import reference
from accelsim.accuracy.analog import DEFAULT_CHUNK, ErrorSums, _gather, _scatter, _tile_weights, digital_matmul
from accelsim.config import ArchConfig
from accelsim.hw.digital import digital_mvm
from accelsim.mapping import TilePlan
from accelsim.results.accuracy import DieResult, LayerError
from accelsim.workload import LayerInfo, Workload


def is_digital(arch: ArchConfig) -> bool:
    return arch.macro.compute == "digital_bit_serial"


def digital_chip_matmul(arch: ArchConfig, tile_plan: TilePlan, errors: dict[str, ErrorSums]) -> reference.Matmul:
    """The :data:`reference.Matmul` of a chip of digital macros (module docstring)."""
    tiles: dict[str, list] = {}
    for rnd in tile_plan.rounds:
        for st in rnd.stages:
            if st.unit == "macros" and st.replicas:
                tiles.setdefault(st.layer, []).extend(st.replicas[0].tiles)

    def matmul(layer: LayerInfo, x_codes: np.ndarray, w_codes: np.ndarray) -> np.ndarray:
        mine = tiles.get(layer.name)
        if not mine:
            return digital_matmul(layer, x_codes, w_codes)
        g, vectors, _ = x_codes.shape
        acc = np.zeros((g, vectors, w_codes.shape[-1]), dtype=np.int64)
        sums = errors.setdefault(layer.name, ErrorSums())
        every = slice(None)
        for t in mine:
            w = _tile_weights(w_codes, t).astype(np.int64)
            x = _gather(x_codes, t, every).astype(np.int64)
            out, _ = digital_mvm(arch.macro, w, x)
            _scatter(acc, out, t, every)
            sums.add(out, x @ w, len(x))
        return acc

    return matmul


def digital_die(arch: ArchConfig, workload: Workload, weights, features: np.ndarray, labels: np.ndarray,
                die: int, seed: int, tile_plan: TilePlan, chunk: int = DEFAULT_CHUNK) -> DieResult:
    """One die of digital macros: the exact pass, its accuracy both before and after "calibration"."""
    errors: dict[str, ErrorSums] = {}
    predicted = np.empty(len(features), dtype=np.int64)
    matmul = digital_chip_matmul(arch, tile_plan, errors)
    for start in range(0, len(features), chunk):
        batch = features[start:start + chunk]
        logits = reference.forward(workload, weights, batch, "quantised", matmul)
        predicted[start:start + len(batch)] = logits.reshape(len(batch), -1).argmax(axis=1)
    acc = float(np.mean(predicted == labels))
    macros = {m.layer: m.macros for m in tile_plan.layers}
    layers = tuple(LayerError(name, macros[name], e.mvms, e.rmse(), e.rmse(), e.sqnr_db(), e.sqnr_db(), 1.0)
                   for name, e in errors.items())
    return DieResult(die, seed, acc, acc, layers)
