"""What the data and the supply do to a macro operation's energy: per energy component, the
factor its table energy is scaled by (docs/macro-model.md, "Data-dependent energy" and the
supply model). Counts and costs stay separate: these factors read only the macro's config and
cell model, and :mod:`accelsim.cost.energy` applies them to its prices."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from accelsim.config.arch import ArchConfig, MacroConfig
from accelsim.hw.geometry import supply_delay_scale, supply_energy_scale
from accelsim.hw.macro import cell_quantities, checked_integers, encode_weights, input_max, weight_range

#: the macro energy components whose energy may follow the data (macro_control and leakage never do)
DATA_COMPONENTS = ("input_drivers", "macro_array", "adc", "macro_digital")


def cell_current_fractions(macro: MacroConfig) -> tuple[float, float]:
    """What a cell draws per unit of drive at its lowest and highest stored level, as fractions of
    the larger: read current ``V/R`` of an MTJ cell (in either readout), current ``V G`` of an RRAM
    cell, charge ``d C V`` of an SRAM charge cell (``cell_quantities`` turned into what flows)."""
    drawn = _drawn_fractions(macro)
    return float(drawn[0]), float(drawn[-1])


def mean_cell_current(macro: MacroConfig, weight_mean: float) -> float:
    """Mean drawn quantity of a cell whose stored value is ``weight_mean`` of full scale: the
    end-point line ``q_0 + w (q_top - q_0)`` of :func:`cell_current_fractions` (exact for linear
    cells, an approximation for the bowed ``1/R`` of a stacked MTJ)."""
    q0, q_top = cell_current_fractions(macro)
    return q0 + weight_mean * (q_top - q0)


@dataclass(frozen=True)
class DataStatistics:
    """What the data present to a macro, as the energy model reads it (fractions of full scale).

    ``input_value``: mean input over ``2**B_in - 1``; ``input_ones``: mean fraction of an input's
    bits that are 1; ``weight_value``: mean stored weight value as ``macro.data`` states it;
    ``cell``: mean drawn quantity of a cell (:func:`cell_current_fractions` units);
    ``weight_ones``: mean fraction of the stored weight bits that are 1 (a digital bit-cell's).
    """

    input_value: float
    input_ones: float
    weight_value: float
    cell: float
    weight_ones: float


def _popcount(values: np.ndarray) -> np.ndarray:
    v = values.astype(np.int64)
    count = np.zeros_like(v)
    while np.any(v):
        count += v & 1
        v >>= 1
    return count


def _normalised(histogram, length: int) -> np.ndarray:
    p = np.asarray(histogram, dtype=np.float64)
    if p.shape != (length,):
        raise ValueError(f"a histogram of {length} values was expected; got {p.size}")
    p = p / p.max()  # first to the largest entry: entries near the float range do not sum to inf
    return p / p.sum()


def input_statistics(macro: MacroConfig, histogram) -> tuple[float, float]:
    """``(input_value, input_ones)`` of an input histogram over the values ``0 .. 2**B_in - 1``."""
    top = input_max(macro)
    p = _normalised(histogram, top + 1)
    values = np.arange(top + 1)
    return float(p @ values) / top, float(p @ _popcount(values)) / macro.input_bits


def weight_statistics(macro: MacroConfig, histogram) -> tuple[float, float, float]:
    """``(weight_value, cell, weight_ones)`` of a weight histogram over the signed values
    ``-2**(B_w-1) .. 2**(B_w-1) - 1``: the stored value as ``macro.data`` states it, and the
    exact mean over every cell of every plane (:func:`~accelsim.hw.macro.encode_weights`) of
    what the cell draws and of its stored bits."""
    low, high = weight_range(macro)
    p = _normalised(histogram, high - low + 1)
    w = np.arange(low, high + 1)
    if macro.weight_encoding == "differential":
        value = float(p @ np.abs(w)) / -low
    else:
        value = float(p @ (w - low)) / (high - low)
    if macro.is_digital:  # a digital macro stores a weight's two's-complement bits
        ones = float(p @ _popcount(w & (2**macro.weight_bits - 1))) / macro.weight_bits
        return value, ones, ones
    digits = encode_weights(macro, w[:, None]).astype(np.intp)  # (values, planes)
    ones = float(p @ _popcount(digits).mean(axis=1)) / macro.bits_per_cell
    cell = float(p @ _drawn_fractions(macro)[digits].mean(axis=1))
    return value, cell, ones


def _drawn_fractions(macro: MacroConfig) -> np.ndarray:
    """What a cell draws per unit of drive at each stored level, fractions of the larger end's."""
    q = cell_quantities(macro)
    drawn = 1.0 / q if macro.cell.is_mtj else q
    return drawn / float(max(drawn[0], drawn[-1]))


def _from_means(macro: MacroConfig, input_mean: float, weight_mean: float) -> DataStatistics:
    """A mean stands for data whose every bit is 1 with that probability (so the bits' and the
    value's fractions are equal); a cell's draw on its end-point line at the mean."""
    cell = weight_mean if macro.is_digital else mean_cell_current(macro, weight_mean)
    return DataStatistics(input_mean, input_mean, weight_mean, cell, weight_mean)


def data_statistics_of(macro: MacroConfig) -> tuple[DataStatistics, DataStatistics]:
    """``(stated, reference)``: the statistics ``macro.data`` states (its histograms where given, else
    its means, else the reference's) and the reference's; ``macro.data`` must be present."""
    d = macro.data
    ref = _from_means(macro, d.reference.input_mean, d.reference.weight_mean)
    stated = _from_means(macro, ref.input_value if d.input_mean is None else d.input_mean,
                         ref.weight_value if d.weight_mean is None else d.weight_mean)
    if d.input_histogram is not None:
        value, ones = input_statistics(macro, d.input_histogram)
        stated = replace(stated, input_value=value, input_ones=ones)
    if d.weight_histogram is not None:
        value, cell, ones = weight_statistics(macro, d.weight_histogram)
        stated = replace(stated, weight_value=value, cell=cell, weight_ones=ones)
    return stated, ref


def _activities(macro: MacroConfig, s: DataStatistics) -> dict[str, float]:
    drive = s.input_ones if macro.input_mode == "bit_serial" or macro.is_digital else s.input_value
    code = s.input_value * s.weight_value
    array = s.input_ones * s.weight_ones if macro.is_digital else drive * s.cell
    return {"input_drivers": drive, "macro_array": array, "adc": code, "macro_digital": code}


def data_activity(macro: MacroConfig) -> dict[str, float]:
    """Activity of each data-dependent component (``DATA_COMPONENTS``) at ``macro.data``'s statistics
    over its activity at the reference statistics; 1.0 each without a ``data`` section.

    - ``input_drivers``: the input's drive: its mean value (unit pulses of a pulse-width input,
      charge of a binary-weighted driver), or its 1-bits (a bit-serial input, a digital macro's
      input lines);
    - ``macro_array``: the drive times the mean drawn cell quantity (read current or charge); in a
      digital macro the density of 1 partial products, input 1-bits times stored 1-bits;
    - ``adc``, ``macro_digital``: the mean output code, ``x w``.
    """
    d = macro.data
    if d is None:
        return dict.fromkeys(DATA_COMPONENTS, 1.0)
    if (d.input_histogram is None and d.weight_histogram is None
            and (d.input_mean is None or d.input_mean == d.reference.input_mean)
            and (d.weight_mean is None or d.weight_mean == d.reference.weight_mean)):
        return dict.fromkeys(DATA_COMPONENTS, 1.0)  # exactly the table's energies at the reference
    stated, ref = data_statistics_of(macro)
    a, a_ref = _activities(macro, stated), _activities(macro, ref)
    return {c: a[c] / a_ref[c] for c in DATA_COMPONENTS}


def with_data(arch: ArchConfig, **fields) -> ArchConfig:
    """``arch`` with these ``macro.data`` fields replaced (``arch`` itself without a data section):
    the data a run, a layer or a study is priced at."""
    data = arch.macro.data
    if data is None:
        return arch
    return arch.model_copy(update={"macro": arch.macro.model_copy(update={"data": data.model_copy(update=fields)})})


def data_energy_factors(macro: MacroConfig) -> dict[str, float]:
    """Factor on each data-dependent component's table energy: ``1 + p_c (a_c - 1)`` with ``p_c``
    its data-proportional fraction (``macro.data.proportional``) and ``a_c`` its
    :func:`data_activity`; exactly 1 without a ``data`` section or at the reference statistics,
    ``1 - p_c`` (the fixed part) at zero activity."""
    if macro.data is None:
        return dict.fromkeys(DATA_COMPONENTS, 1.0)
    split = macro.data.proportional
    return {c: 1.0 + getattr(split, c) * (a - 1.0) for c, a in data_activity(macro).items()}


#: macro energy components the supply model scales (each action's component, accelsim.cost.energy)
SUPPLY_COMPONENTS = ("macro_array", "input_drivers", "adc", "macro_digital", "macro_control", "macro_decoder")


def supply_energy_factors(macro: MacroConfig) -> dict[str, float]:
    """Factor on each macro energy component's table figure at the operating supply.

    The dynamic part (CV^2) scales as ``v2 = (V / V_ref)**2``; the ``supply.static``
    fraction ``s_c`` (a static current ``V / R`` through a resistance, for the whole
    evaluation) as ``v2 t``, ``t`` the alpha-power-law delay scale
    (:func:`~accelsim.hw.geometry.supply_delay_scale`): ``(1 - s_c) v2 + s_c v2 t``.
    Exactly 1 without a ``supply`` section or at the reference voltage. Leakage is not
    scaled here: its power is the table's, its energy per MVM follows the MVM's time.
    """
    if macro.supply is None:
        return dict.fromkeys(SUPPLY_COMPONENTS, 1.0)
    v2, t = supply_energy_scale(macro), supply_delay_scale(macro)
    static = macro.supply.static
    # a digital macro's decoder is logic: all CV^2 (supply.static has no fraction for it)
    return {c: v2 * (1.0 + getattr(static, c, 0.0) * (t - 1.0)) for c in SUPPLY_COMPONENTS}


def data_statistics(macro: MacroConfig, inputs, weights) -> tuple[float, float]:
    """``(input_mean, weight_mean)`` of real data as ``macro.data`` states them: the mean input over
    ``2**input_bits - 1``, and the mean stored weight value (offset-encoded ``w + 2**(B_w-1)`` over
    ``2**B_w - 1``; differential ``|w|`` over ``2**(B_w-1)``)."""
    x = checked_integers(inputs, "inputs", 0, input_max(macro), f"input_bits={macro.input_bits}, unsigned")
    low, high = weight_range(macro)
    w = checked_integers(weights, "weights", low, high, f"weight_bits={macro.weight_bits}, signed").astype(np.float64)
    if macro.weight_encoding == "differential":
        weight_mean = float(np.mean(np.abs(w))) / -low
    else:
        weight_mean = float(np.mean(w - low)) / (high - low)
    return float(np.mean(x)) / input_max(macro), weight_mean
