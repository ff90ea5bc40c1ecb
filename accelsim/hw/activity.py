"""What the data and the supply do to a macro operation's energy: per energy component, the
factor its table energy is scaled by (docs/macro-model.md, "Data-dependent energy" and the
supply model). Counts and costs stay separate: these factors read only the macro's config and
cell model, and :mod:`accelsim.cost.energy` applies them to its prices."""

from __future__ import annotations

import numpy as np

from accelsim.config.arch import MacroConfig
from accelsim.hw.geometry import supply_delay_scale, supply_energy_scale
from accelsim.hw.macro import cell_quantities, checked_integers, input_max, weight_range

#: the macro energy components whose energy may follow the data (macro_control and leakage never do)
DATA_COMPONENTS = ("input_drivers", "macro_array", "adc", "macro_digital")


def cell_current_fractions(macro: MacroConfig) -> tuple[float, float]:
    """What a cell draws per unit of drive at its lowest and highest stored level, as fractions of
    the larger: read current ``V/R`` of an MTJ cell (in either readout), current ``V G`` of an RRAM
    cell, charge ``d C V`` of an SRAM charge cell (``cell_quantities`` turned into what flows)."""
    q = cell_quantities(macro)
    drawn = 1.0 / q if macro.cell.is_mtj else q
    top = float(max(drawn[0], drawn[-1]))
    return float(drawn[0]) / top, float(drawn[-1]) / top


def mean_cell_current(macro: MacroConfig, weight_mean: float) -> float:
    """Mean drawn quantity of a cell whose stored value is ``weight_mean`` of full scale: the
    end-point line ``q_0 + w (q_top - q_0)`` of :func:`cell_current_fractions` (exact for linear
    cells, an approximation for the bowed ``1/R`` of a stacked MTJ)."""
    q0, q_top = cell_current_fractions(macro)
    return q0 + weight_mean * (q_top - q0)


def data_activity(macro: MacroConfig) -> dict[str, float]:
    """Activity of each data-dependent component (``DATA_COMPONENTS``) at ``macro.data``'s statistics
    over its activity at the reference statistics; 1.0 each without a ``data`` section.

    - ``input_drivers``: mean input ``x`` (unit pulses of a pulse-width input, charge of a
      binary-weighted driver, 1-bits of a bit-serial one);
    - ``macro_array``: ``x`` times the mean drawn cell quantity ``q(w)`` (read current or charge);
    - ``adc``, ``macro_digital``: the mean output code, ``x w``.
    """
    d = macro.data
    if d is None:
        return dict.fromkeys(DATA_COMPONENTS, 1.0)
    ref = d.reference
    x = ref.input_mean if d.input_mean is None else d.input_mean
    w = ref.weight_mean if d.weight_mean is None else d.weight_mean
    if x == ref.input_mean and w == ref.weight_mean:  # exactly the table's energies at the reference
        return dict.fromkeys(DATA_COMPONENTS, 1.0)
    code = (x * w) / (ref.input_mean * ref.weight_mean)
    return {
        "input_drivers": x / ref.input_mean,
        "macro_array": (x * mean_cell_current(macro, w)) / (ref.input_mean * mean_cell_current(macro, ref.weight_mean)),
        "adc": code,
        "macro_digital": code,
    }


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
