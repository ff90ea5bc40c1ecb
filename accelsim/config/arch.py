"""The architecture config: clock, macro, chip, interconnect, mapping, technology.

Every field has a unit in its name or its docstring. Physical limits are
checked here, once, at the edge: code below ``config/`` trusts these objects.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from accelsim.config.base import Section


class ClockConfig(Section):
    """The digital clock: simulated time is counted in its cycles."""

    frequency_mhz: float = Field(ge=1e-3, le=10_000)
    """Digital clock frequency in MHz (at least 1 kHz: below it the figures reach the floating-point range's ends)."""


class MtjConfig(Section):
    """The stacked magnetic-tunnel-junction cell (docs/sources.md s1.4).

    A cell of ``bits_per_cell`` bits stacks ``bits_per_cell`` MTJs in series;
    MTJ ``k`` has a parallel-state resistance ``r_p_kohm * stack_ratio**k``,
    so that R_cell = R_P * sum_k stack_ratio**k * (1 + s_k * tmr) is linear in
    the stored level.
    """

    r_p_kohm: float = Field(gt=0)
    """Parallel-state resistance of the first (smallest) MTJ, kOhm."""
    tmr: float = Field(gt=0, le=10)
    """Tunnel magnetoresistance ratio (R_AP - R_P) / R_P, dimensionless (1.0 = 100 %)."""
    stack_ratio: float = Field(default=2.0, gt=0)
    """Ratio of each stacked MTJ's R_P to the previous one's (2 gives equally spaced levels)."""
    read_voltage_v: float = Field(gt=0, le=2)
    """Read voltage across a cell at full-scale input, V."""


class RramConfig(Section):
    """A 1T1R resistive-RAM cell programmed to ``2**bits_per_cell`` conductance levels.

    Level ``d`` is programmed to ``G(d) = g_min_us + d (g_max_us - g_min_us) / (2**bits_per_cell - 1)``
    (linear in conductance, the quantity a current-sum column adds).
    """

    g_min_us: float = Field(gt=0)
    """Conductance of the lowest programmed level, uS."""
    g_max_us: float = Field(gt=0)
    """Conductance of the highest programmed level, uS."""
    read_voltage_v: float = Field(gt=0, le=2)
    """Read voltage across a cell at full-scale input, V."""

    @model_validator(mode="after")
    def _check(self) -> RramConfig:
        if self.g_max_us <= self.g_min_us:
            raise ValueError(f"g_max_us ({self.g_max_us}) must exceed g_min_us ({self.g_min_us})")
        return self


class SramChargeConfig(Section):
    """A binary SRAM bit-cell that gates a unit capacitor (charge-domain computing).

    A stored 1 puts ``unit_capacitor_ff x swing_v`` of charge on the column per unit of
    input drive, a stored 0 none; the column sums charge (linear in the stored bit).
    """

    unit_capacitor_ff: float = Field(gt=0)
    """Computation capacitor of one bit-cell, fF."""
    swing_v: float = Field(gt=0, le=2)
    """Voltage swing on the capacitor at full-scale input, V."""


class CellConfig(Section):
    """Which memory cell holds a weight digit (docs/validation.md: the macro library).

    ``mtj_stack``: ``bits_per_cell`` MTJs in series (``macro.mtj``); ``mtj_binary``: one
    MTJ, 1 bit per cell (``macro.mtj``); ``rram``: a 1T1R cell with programmed
    conductance levels (``rram``); ``sram_charge``: a binary SRAM cell switching a
    unit capacitor (``sram``).
    """

    technology: Literal["mtj_stack", "mtj_binary", "rram", "sram_charge"] = "mtj_stack"
    """The cell model."""
    rram: RramConfig | None = None
    """Parameters of an ``rram`` cell."""
    sram: SramChargeConfig | None = None
    """Parameters of an ``sram_charge`` cell."""

    @property
    def is_mtj(self) -> bool:
        """Whether the cell is made of MTJs (``macro.mtj``), whose resistances the readout sums."""
        return self.technology in ("mtj_stack", "mtj_binary")


class SupplyStaticConfig(Section):
    """Fraction of each macro energy component, at the reference supply, drawn as a static current
    through a resistance for the whole evaluation (a resistor-ladder DAC or reference): that part
    costs ``V^2 / R x t`` and scales as ``(V / V_ref)**2`` times the delay scale, not as CV^2.
    Each is sourced from the circuit (docs/macro-model.md, "Supply voltage"); default 0: all CV^2."""

    macro_array: float = Field(default=0.0, ge=0, le=1)
    """Static fraction of the array's read energy (a resistive read bias)."""
    input_drivers: float = Field(default=0.0, ge=0, le=1)
    """Static fraction of the input drivers' energy (an R-2R ladder DAC: 1)."""
    adc: float = Field(default=0.0, ge=0, le=1)
    """Static fraction of the conversion energy (a resistor-ladder reference)."""
    macro_digital: float = Field(default=0.0, ge=0, le=1)
    """Static fraction of the column digital energy."""
    macro_control: float = Field(default=0.0, ge=0, le=1)
    """Static fraction of the control and reference energy (bias currents through resistors)."""


class SupplyConfig(Section):
    """Supply-voltage dependence of the macro's energy and timing.

    The technology table's macro energies and the macro's times were taken at
    ``reference_voltage_v``; at ``voltage_v`` every dynamic macro energy scales
    by ``(V / V_ref)**2`` (CV^2) and every macro time by the alpha-power-law delay
    ``(V / V_ref) ((V_ref - V_th) / (V - V_th))**alpha`` (Sakurai-Newton); the
    ``static`` fraction of a component (a static current through a resistance)
    scales as ``(V / V_ref)**2`` times that delay scale.
    """

    voltage_v: float = Field(gt=0, le=5)
    """Operating supply voltage, V."""
    reference_voltage_v: float = Field(gt=0, le=5)
    """Supply at which technology.energy's macro figures and the macro's times were taken, V."""
    threshold_voltage_v: float = Field(default=0.3, ge=0, le=2)
    """Transistor threshold voltage of the delay model, V."""
    alpha: float = Field(default=1.3, gt=0, le=2)
    """Velocity-saturation exponent of the alpha-power-law delay (2: long channel, ~1.3 short channel)."""
    static: SupplyStaticConfig = SupplyStaticConfig()
    """Static-current (resistive) fraction of each macro energy component; the rest is CV^2."""

    @model_validator(mode="after")
    def _check(self) -> SupplyConfig:
        for name in ("voltage_v", "reference_voltage_v"):
            if getattr(self, name) <= self.threshold_voltage_v:
                raise ValueError(f"{name} ({getattr(self, name)}) must exceed threshold_voltage_v "
                                 f"({self.threshold_voltage_v}): the delay model has no current below it")
        return self


class AdcConfig(Section):
    """The column ADCs of a macro."""

    bits: int = Field(ge=1, le=16)
    """Resolution of one conversion, bits."""
    count: int = Field(gt=0)
    """ADCs per macro; columns share them when fewer than the columns."""
    conversion_ns: float = Field(gt=0)
    """Time of one conversion when an ADC is shared between columns, ns."""
    full_scale: float = Field(gt=0, le=4)
    """ADC full-scale range as a fraction of the column's largest ideal signal (1.0: no clipping; <1 clips, finer LSB)."""
    step_ns: float = Field(default=0.0, ge=0)
    """A bit-by-bit converter (successive approximation, or a neuron's binary-weighted charge decrement): one step, ns; a conversion of ``bits`` takes ``bits + 1`` steps (a sample step and one per output bit), added to each conversion round beyond t_mvm_ns, so the conversion time follows the output bits. 0: the conversion is inside t_mvm_ns (and conversion_ns for the extra rounds of a shared ADC)."""

    @property
    def step_conversion_ns(self) -> float:
        """Time of one bit-by-bit conversion beyond t_mvm_ns, ns: ``(bits + 1) x step_ns`` (0 without steps)."""
        return (self.bits + 1) * self.step_ns


class VariationConfig(Section):
    """Process variation and noise of the macro population (docs/sources.md s1.8)."""

    macro_gain_sigma: float = Field(ge=0, le=1)
    """Die/macro-level relative gain shift, standard deviation (0.03 = 3 %)."""
    macro_offset_sigma_lsb: float = Field(ge=0)
    """Die/macro-level offset shift, standard deviation in ADC LSB."""
    column_gain_sigma: float = Field(ge=0, le=1)
    """Per-column relative gain error, standard deviation."""
    column_offset_sigma_lsb: float = Field(ge=0)
    """Per-column offset, standard deviation in ADC LSB."""
    cell_sigma_r: float = Field(ge=0, le=1)
    """Per-cell spread of each programmed level's physical quantity (resistance of an MTJ, conductance of an RRAM cell, capacitance of an SRAM charge cell), relative standard deviation."""
    cell_spread: Literal["device", "level"] = "device"
    """What one cell_sigma_r draw scales: each device of a cell (device: each MTJ of a stacked-MTJ cell on its own, in either state; an RRAM or SRAM cell is one device, spread per level) or the cell's whole quantity at each level (level: a stack's MTJs varying together, the worst case)."""
    read_noise_sigma_lsb: float = Field(ge=0)
    """Random read noise of each conversion, standard deviation in ADC LSB."""

    def without_errors(self) -> VariationConfig:
        """The same section with every sigma set to zero (ideal devices)."""
        return self.model_copy(update={name: 0.0 for name in type(self).model_fields if "sigma" in name})


class CalibrationConfig(Section):
    """Per-macro, per-column two-point calibration after programming."""

    enabled: bool = True
    """Apply the fitted per-column gain/offset correction to every conversion."""
    vectors: int = Field(default=32, ge=2, le=65536)
    """Known calibration input vectors K applied to each macro."""
    adc_trim: bool = False
    """Also trim each macro's ADC reference to its measured gain before the digital fit."""


class DataReferenceConfig(Section):
    """The data statistics at which the technology table's macro energies hold (fitted or stated)."""

    input_mean: float = Field(gt=0, le=1)
    """Mean input value at which the table holds, fraction of full scale (2**input_bits - 1)."""
    weight_mean: float = Field(gt=0, le=1)
    """Mean stored weight value (as encoded, unsigned) at which the table holds, fraction of full scale."""


class DataSplitConfig(Section):
    """Data-proportional fraction of each macro energy component at the reference statistics (the rest is fixed)."""

    input_drivers: float = Field(default=0.0, ge=0, le=1)
    """Fraction of the input drivers' energy proportional to the mean input (pulses, DAC segments or bits toggled)."""
    macro_array: float = Field(default=0.0, ge=0, le=1)
    """Fraction of the array's energy proportional to the read current or charge, mean input x mean cell quantity."""
    adc: float = Field(default=0.0, ge=0, le=1)
    """Fraction of the conversion energy proportional to the mean output code (mean input x mean weight)."""
    macro_digital: float = Field(default=0.0, ge=0, le=1)
    """Fraction of the column digital energy proportional to the mean output code (mean input x mean weight)."""


class DataConfig(Section):
    """Data-value-dependent macro energy (docs/macro-model.md, "Data-dependent energy").

    Each macro component c splits, at the reference statistics, into a fixed
    part and a part proportional to its data activity a_c:
    ``E_c = E_c,table (1 + p_c (a_c / a_c,ref - 1))``; at the reference the
    table's energy exactly, at zero activity its fixed part ``(1 - p_c)``.
    """

    input_mean: float | None = Field(default=None, ge=0, le=1)
    """Mean input value, fraction of full scale; absent: the reference's."""
    weight_mean: float | None = Field(default=None, ge=0, le=1)
    """Mean stored weight value (as encoded, unsigned), fraction of full scale; absent: the reference's."""
    input_histogram: tuple[Annotated[float, Field(ge=0)], ...] | None = None
    """Relative frequency of each input value 0 .. 2**input_bits - 1 (any non-negative weights, normalised); instead of input_mean: exact for the 1-bits of a bit-serial input."""
    weight_histogram: tuple[Annotated[float, Field(ge=0)], ...] | None = None
    """Relative frequency of each signed weight value -2**(weight_bits-1) .. 2**(weight_bits-1) - 1 (normalised); instead of weight_mean: exact for every cell's draw and stored bits."""
    reference: DataReferenceConfig
    """The statistics at which the technology table's macro energies hold."""
    proportional: DataSplitConfig = DataSplitConfig()
    """Data-proportional fraction of each component (macro_control and leakage are always fixed)."""

    @model_validator(mode="after")
    def _check(self) -> DataConfig:
        for name in ("input", "weight"):
            histogram = getattr(self, f"{name}_histogram")
            if histogram is None:
                continue
            if getattr(self, f"{name}_mean") is not None:
                raise ValueError(f"give {name}_mean or {name}_histogram, not both")
            if histogram and not sum(histogram) > 0:  # (an empty one: its length is refused with the bits)
                raise ValueError(f"{name}_histogram has no weight (every entry is 0): it states no data")
        return self

    def check_lengths(self, input_bits: int, weight_bits: int) -> None:
        """The histograms' lengths against the macro's bits (a ValueError naming both)."""
        for name, bits in (("input", input_bits), ("weight", weight_bits)):
            histogram = getattr(self, f"{name}_histogram")
            if histogram is not None and len(histogram) != 2**bits:
                raise ValueError(f"data.{name}_histogram has {len(histogram)} entries; {name}_bits = {bits} "
                                 f"needs one per value, {2**bits}")


class DigitalConfig(Section):
    """A digital bit-serial macro (``macro.compute: digital_bit_serial``; docs/macro-model.md,
    "Digital bit-serial macros").

    Every bit-cell holds a weight bit, an XNOR (or AND) multiplier and a full adder. An output
    (``weight_columns``) is a band of ``weight_bits + accumulation_columns`` physical columns; the
    ``rows`` column MACs of a band are chained into one dot product, with ``registers`` pipeline
    registers along the chain (one every ``rows / registers`` column MACs). Inputs arrive bit-serially,
    one bit per macro cycle, LSB first: an MVM occupies the macro ``input_bits`` cycles. The
    arithmetic is exact: no converter, no noise.
    """

    accumulation_columns: int = Field(default=7, ge=0, le=64)
    """Extra bit-cell columns per output that carry the partial sum's growth beyond the weight's bits (log2 of the rows for a full-width sum)."""
    registers: int = Field(default=1, ge=1, le=8192)
    """Pipeline registers along one accumulation chain (R); must divide ``macro.rows``."""
    timing: Literal["critical_path", "fixed"] = "critical_path"
    """``critical_path``: the macro cycle is the chain's critical path, ``cell_delay_ns (register_delay_cells + rows / R + weight_bits + accumulation_columns)``, scaled by the supply's alpha-power delay; ``fixed``: a forced macro cycle of ``macro.t_mvm_ns``, independent of the supply (not checked against the critical path)."""
    cell_delay_ns: float = Field(gt=0)
    """Delay of one bit-cell full adder on the critical path at supply.reference_voltage_v, ns."""
    register_delay_cells: float = Field(default=2.0, ge=0)
    """Register overhead (clock-to-q plus setup) in full-adder delays."""

    def critical_path_cells(self, rows: int, weight_bits: int) -> float:
        """Full-adder delays of one macro cycle: the register overhead, one pipeline stage of the
        chain (``rows / registers`` column MACs) and the carry across the band's columns."""
        return self.register_delay_cells + rows / self.registers + weight_bits + self.accumulation_columns


class MacroConfig(Section):
    """One in-memory-computing macro: analog (ABP-MAC, the default) or digital bit-serial."""

    compute: Literal["analog", "digital_bit_serial"] = "analog"
    """``analog``: cells summed in the analog domain and converted by ADCs; ``digital_bit_serial``: bit-cells with their own logic, exact integer arithmetic, one input bit per macro cycle (``macro.digital``; the ADC, cell-readout and variation fields do not apply)."""
    digital: DigitalConfig | None = None
    """Parameters of a ``digital_bit_serial`` macro."""

    rows: int = Field(gt=0, le=8192)
    """Word lines: inputs summed per column, i.e. the K extent of a weight tile."""
    columns: int = Field(gt=0, le=8192)
    """Physical cell columns (bit lines); a weight uses weight_bits / bits_per_cell of them (twice that if differential)."""
    bits_per_cell: int = Field(ge=1, le=4)
    """Bits stored per cell (2**bits_per_cell levels: a stack of this many MTJs, or programmed RRAM conductances; 1 for binary MTJ and SRAM cells)."""
    cell: CellConfig = CellConfig()
    """The cell model; the default ``mtj_stack`` reads ``macro.mtj``."""
    weight_bits: int = Field(ge=1, le=16)
    """Bits of a signed weight; a multiple of bits_per_cell."""
    weight_encoding: Literal["offset", "differential"] = "offset"
    """Signed weights: ``offset`` stores w + 2**(weight_bits-1) and subtracts the offset (``offset_subtraction``); ``differential`` uses a positive and a negative column per slice."""
    offset_subtraction: Literal["digital", "analog"] = "digital"
    """Offset encoding: where the offset's term 2**(weight_bits-1) x sum_i x_i is removed: ``digital`` after the ADC (which then spans the offset-encoded column sum), ``analog`` before it, by a reference each macro drives from the input sum into every column (the ADC spans only the signed product); needs one converted column per weight."""
    input_bits: int = Field(ge=1, le=16)
    """Bits of an (unsigned) input activation."""
    input_mode: Literal["bit_parallel", "bit_serial", "pulse_width"] = "bit_parallel"
    """``bit_parallel``: all input bits in one binary-weighted analog evaluation (ABP-MAC); ``bit_serial``: one evaluation per input bit; ``pulse_width``: one evaluation whose word-line pulse lasts (or counts) ``x`` unit pulses."""
    serial_accumulation: Literal["digital", "analog"] = "digital"
    """Bit-serial only: ``digital`` converts every input bit and shift-adds the codes; ``analog`` accumulates the bits with binary weights in the analog domain (charge sharing) and converts once per MVM."""
    input_phases: int = Field(default=1, ge=1, le=2)
    """Bit-serial inputs accumulated in analog only: ``2`` splits each input into a high part of ``ceil(B_in / 2)`` bits and a low part of ``floor(B_in / 2)`` bits, accumulated and converted in two separate phases and shift-added digitally (NeuRRAM's two-phase input mode: fewer integration cycles, twice the conversions); ``1``: one accumulation and one conversion per MVM."""
    integration_cycle_ns: float = Field(default=0.0, ge=0)
    """Bit-serial inputs accumulated in analog only: the neuron weights input bit k of a phase by integrating its sampled column signal ``2**k`` times, each integration cycle this long, ns; a phase of ``b`` bits adds ``(2**b - 1)`` cycles to its ``b`` evaluations. 0: the bits are weighted within t_mvm_ns (charge sharing)."""
    slice_combine: Literal["digital", "analog"] = "digital"
    """``digital``: every cell column has its own conversion and the slices of a weight are shift-added digitally; ``analog``: the slice columns of a weight are summed with binary weights before one conversion (weighted multi-column readout, binary-weighted capacitors, C-2C ladder)."""
    input_pulse_ns: float = Field(default=0.0, ge=0)
    """Pulse-width inputs: duration of one unit pulse, ns; the pulse train of a full-scale input, ``(2**input_bits - 1) x input_pulse_ns``, adds to t_mvm_ns."""
    readout: Literal["current_sum", "resistance_sum", "charge_sum"] = "resistance_sum"
    """How a column sums its cells: ``current_sum`` adds conductances (non-linear in the stored level for stacked MTJs); ``resistance_sum`` adds resistances (linear); ``charge_sum`` adds capacitor charge (SRAM charge domain)."""
    t_mvm_ns: float = Field(gt=0)
    """Time of one analog evaluation including settling and one conversion per ADC, ns (at supply.reference_voltage_v); a digital macro with ``digital.timing: fixed``: its forced cycle (one input bit), ns."""
    mtj: MtjConfig | None = None
    """Parameters of an MTJ cell (``cell.technology`` mtj_stack or mtj_binary)."""
    supply: SupplyConfig | None = None
    """Supply-voltage scaling of macro energy and time; absent: the table's figures as they are."""
    adc: AdcConfig | None = None
    """The column ADCs; required by an analog macro, absent in a digital one."""
    variation: VariationConfig | None = None
    """Device variation and noise; required by an analog macro, absent in a digital one (exact arithmetic)."""
    calibration: CalibrationConfig = CalibrationConfig()
    data: DataConfig | None = None
    """Input and weight value statistics the macro energies follow; absent: energy independent of the data."""

    @model_validator(mode="after")
    def _check(self) -> MacroConfig:
        if self.data is not None:
            self.data.check_lengths(self.input_bits, self.weight_bits)
        if self.compute == "digital_bit_serial":
            self._check_digital()
            return self
        if self.digital is not None:
            raise ValueError("macro.digital applies to compute digital_bit_serial only "
                             "(set macro.compute: digital_bit_serial, or remove macro.digital)")
        for name in ("adc", "variation"):
            if getattr(self, name) is None:
                raise ValueError(f"an analog macro (compute: analog) needs the section macro.{name}")
        if self.weight_bits % self.bits_per_cell:
            raise ValueError(
                f"weight_bits ({self.weight_bits}) must be a multiple of bits_per_cell "
                f"({self.bits_per_cell})"
            )
        if self.columns < self.columns_per_weight:
            raise ValueError(
                f"columns ({self.columns}) are fewer than one weight needs ({self.columns_per_weight})"
            )
        if self.adc.count > self.columns:
            raise ValueError(f"adc.count ({self.adc.count}) exceeds the columns ({self.columns})")
        self._check_cell()
        if self.serial_accumulation == "analog" and self.input_mode != "bit_serial":
            raise ValueError("serial_accumulation: analog applies to input_mode bit_serial only")
        if self.input_pulse_ns > 0 and self.input_mode != "pulse_width":
            raise ValueError("input_pulse_ns applies to input_mode pulse_width only")
        self._check_phases()
        if self.offset_subtraction == "analog":
            if self.weight_encoding != "offset":
                raise ValueError("offset_subtraction: analog applies to weight_encoding offset only "
                                 "(set macro.offset_subtraction: digital)")
            if self.weight_bits != self.bits_per_cell and self.slice_combine != "analog":
                raise ValueError("offset_subtraction: analog needs one converted column per weight "
                                 "(weight_bits = bits_per_cell, or slice_combine: analog; or set "
                                 "macro.offset_subtraction: digital)")
        return self

    def _check_digital(self) -> None:
        """A digital bit-serial macro: its own section, 1-bit cells, and none of the analog options."""
        if self.digital is None:
            raise ValueError("compute digital_bit_serial needs the section macro.digital")
        if self.bits_per_cell != 1:
            raise ValueError(f"a digital bit-cell holds 1 bit; bits_per_cell is {self.bits_per_cell}")
        if self.rows % self.digital.registers:
            raise ValueError(f"digital.registers ({self.digital.registers}) must divide rows ({self.rows}): "
                             "one register every rows / registers column MACs")
        if self.columns < self.columns_per_weight:
            raise ValueError(f"columns ({self.columns}) are fewer than one output needs "
                             f"(weight_bits + digital.accumulation_columns = {self.columns_per_weight})")
        if self.data is not None and (self.data.proportional.adc or self.data.proportional.macro_digital):
            raise ValueError("a digital_bit_serial macro has no converter and no column digital energy: "
                             "data.proportional.adc and .macro_digital must be 0 (its input lines follow "
                             "input_drivers, its bit-cells macro_array)")
        analog = {"adc": self.adc is not None, "variation": self.variation is not None,
                  "input_mode": self.input_mode != "bit_parallel", "serial_accumulation": self.serial_accumulation != "digital",
                  "slice_combine": self.slice_combine != "digital", "input_phases": self.input_phases != 1,
                  "integration_cycle_ns": self.integration_cycle_ns != 0, "input_pulse_ns": self.input_pulse_ns != 0,
                  "weight_encoding": self.weight_encoding != "offset", "offset_subtraction": self.offset_subtraction != "digital"}
        given = [k for k, v in analog.items() if v]
        if given:
            raise ValueError(f"macro.{given[0]} applies to analog macros only; a digital_bit_serial macro is "
                             "bit-serial, exact and two's-complement by construction (remove it)")

    def _check_phases(self) -> None:
        """Input phases and integration cycles belong to analog accumulation of bit-serial inputs."""
        analog = self.input_mode == "bit_serial" and self.serial_accumulation == "analog"
        if self.input_phases > 1 and not analog:
            raise ValueError(f"input_phases {self.input_phases} applies to input_mode bit_serial with "
                             "serial_accumulation analog only (set macro.input_phases: 1)")
        if self.input_phases > self.input_bits:
            raise ValueError(f"input_phases ({self.input_phases}) exceeds input_bits ({self.input_bits}): "
                             "a phase holds at least one input bit")
        if self.integration_cycle_ns > 0 and not analog:
            raise ValueError("integration_cycle_ns applies to input_mode bit_serial with serial_accumulation "
                             "analog only (set macro.integration_cycle_ns: 0)")

    def _check_cell(self) -> None:
        """Each cell model has its parameters, its readout and its bits per cell."""
        tech = self.cell.technology
        readouts = {"mtj_stack": ("resistance_sum", "current_sum"), "mtj_binary": ("resistance_sum", "current_sum"),
                    "rram": ("current_sum",), "sram_charge": ("charge_sum",)}[tech]
        if self.readout not in readouts:
            raise ValueError(f"readout {self.readout} does not fit cell.technology {tech} (use {' or '.join(readouts)})")
        needs = {"mtj_stack": "mtj", "mtj_binary": "mtj", "rram": "cell.rram", "sram_charge": "cell.sram"}[tech]
        params = {"mtj": self.mtj, "cell.rram": self.cell.rram, "cell.sram": self.cell.sram}[needs]
        if params is None:
            raise ValueError(f"cell.technology {tech} needs the section macro.{needs}")
        if tech in ("mtj_binary", "sram_charge") and self.bits_per_cell != 1:
            raise ValueError(f"a {tech} cell holds 1 bit; bits_per_cell is {self.bits_per_cell}")
        if tech != "mtj_stack":
            return
        # The stored level d = sum_k s_k 2**k must order the cell resistances, else two
        # levels coincide or swap: MTJ k must outweigh all smaller MTJs together.
        ratio = self.mtj.stack_ratio
        for k in range(1, self.bits_per_cell):
            if ratio**k <= sum(ratio**j for j in range(k)):
                raise ValueError(
                    f"mtj.stack_ratio ({ratio}) with bits_per_cell {self.bits_per_cell} gives "
                    f"resistance levels that are not increasing in the stored value: MTJ {k} "
                    f"({ratio**k:g} R_P) must exceed the sum of the smaller ones "
                    f"({sum(ratio**j for j in range(k)):g} R_P)"
                )

    @property
    def slices_per_weight(self) -> int:
        """Cell slices per weight."""
        return self.weight_bits // self.bits_per_cell

    @property
    def columns_per_weight(self) -> int:
        """Physical columns per weight (slices, doubled if differential); a digital macro's output band,
        ``weight_bits + digital.accumulation_columns``."""
        if self.is_digital:
            return self.weight_bits + self.digital.accumulation_columns
        return self.slices_per_weight * (2 if self.weight_encoding == "differential" else 1)

    @property
    def is_digital(self) -> bool:
        """Whether the macro computes in digital logic (``compute: digital_bit_serial``)."""
        return self.compute == "digital_bit_serial"

    @property
    def weight_columns(self) -> int:
        """Logical weight columns: the N extent of a weight tile."""
        return self.columns // self.columns_per_weight

    @property
    def conversions_per_weight(self) -> int:
        """Converted signals per weight column: its physical columns, or one per polarity when slices combine in analog."""
        if self.slice_combine == "analog":
            return 2 if self.weight_encoding == "differential" else 1
        return self.columns_per_weight

    @property
    def conversion_columns(self) -> int:
        """Signals converted per evaluation: every physical column, or one per weight polarity when slices combine in analog."""
        return self.columns if self.slice_combine == "digital" else self.weight_columns * self.conversions_per_weight

    @property
    def evaluations_per_mvm(self) -> int:
        """Analog array evaluations per MVM: one per input bit bit-serial, else one."""
        return self.input_bits if self.input_mode == "bit_serial" else 1

    @property
    def phase_bits(self) -> tuple[int, ...]:
        """Input bits of each accumulation phase, high part first: ``(B_in,)`` in one phase,
        ``(ceil(B_in / 2), floor(B_in / 2))`` in two."""
        if self.input_phases == 1:
            return (self.input_bits,)
        low = self.input_bits // 2
        return (self.input_bits - low, low)

    @property
    def integration_cycles_per_mvm(self) -> int:
        """Integration cycles of one MVM with repeated-integration bit weighting: ``sum_p (2**b_p - 1)``
        over the phases (0 when the bits are weighted within t_mvm_ns)."""
        if self.integration_cycle_ns == 0:
            return 0
        return sum(2**b - 1 for b in self.phase_bits)

    @property
    def converts_each_input_bit(self) -> bool:
        """Whether every input bit has its own conversion (bit-serial with digital shift-add)."""
        return self.input_mode == "bit_serial" and self.serial_accumulation == "digital"


class ChipConfig(Section):
    """The chip: tiles of macros, their buffers and digital units."""

    tiles: int = Field(gt=0)
    """Tiles on the chip."""
    macros_per_tile: int = Field(gt=0)
    """Macros in one tile."""
    macros: int = Field(gt=0)
    """Total macros; must equal tiles x macros_per_tile (stated explicitly as a check)."""
    tile_buffer_kib: float = Field(gt=0)
    """Activation SRAM of one tile, KiB."""
    tile_buffer_port_bits: int = Field(gt=0)
    """Tile buffer port width, bits per cycle (read and write ports each)."""
    global_buffer_kib: float = Field(gt=0)
    """Global activation buffer, KiB."""
    global_buffer_port_bits: int = Field(gt=0)
    """Global buffer port width, bits per cycle."""
    digital_ops_per_cycle: int = Field(gt=0)
    """Throughput of one tile's digital unit (accumulate, normalise, activate, pool, depthwise), ops per cycle."""
    activation_bits: int = Field(gt=0, le=32)
    """Bits of a stored activation word (buffers and interconnect)."""
    partial_sum_bits: int = Field(gt=0, le=64)
    """Bits of one partial sum (one per used weight column). Per vector, each tile of a stage other than its home tile sends the partial sums of all its macros to the home tile's digital unit in one transfer; the home tile's own stay in the tile."""
    mram_write_bits_per_cycle: int = Field(gt=0)
    """MRAM programming bandwidth of one macro, bits per cycle (after the write pulse is pipelined)."""
    offchip_port_bits: int = Field(default=128, gt=0)
    """Off-chip memory interface, bits per cycle: network inputs and outputs, and tensors that cross programming rounds or do not fit on chip, stream through it (staged in the global buffer)."""

    @model_validator(mode="after")
    def _check(self) -> ChipConfig:
        if self.tiles * self.macros_per_tile != self.macros:
            raise ValueError(
                f"tiles x macros_per_tile = {self.tiles} x {self.macros_per_tile} = "
                f"{self.tiles * self.macros_per_tile}, but macros is {self.macros}"
            )
        return self


class InterconnectConfig(Section):
    """The network between the global buffer and the tiles."""

    topology: Literal["bus", "ring", "mesh"] = "bus"
    """``bus``: one shared link; ``ring``: tiles on a bidirectional ring; ``mesh``: a 2-D mesh of tiles."""
    link_width_bits: int = Field(gt=0)
    """Bits one link carries per cycle."""
    hop_latency_cycles: int = Field(ge=0)
    """Latency of one router/link hop, cycles."""


#: the two schedules of the engine (docs/engine.md, Schedule)
Schedule = Literal["layer_by_layer", "pipelined"]
#: exact: every vector booked on its own; grouped: a row's run of vectors per replica at once
Mode = Literal["exact", "grouped"]


class MappingConfig(Section):
    """How layers are placed on macros and scheduled."""

    depthwise: Literal["digital", "macro"] = "digital"
    """Depthwise convolutions: in the tile's digital unit, or block-diagonal on macros."""
    replicate: bool = True
    """Add replicas on spare macros where the bottleneck model says they help, placed locally (docs/engine.md, Replication)."""
    schedule: Schedule = "pipelined"
    """``layer_by_layer``: a barrier between layers; ``pipelined``: a layer starts as soon as its input rows exist."""
    input_reuse: Literal["sliding_window", "none"] = "sliding_window"
    """Input path of a windowed layer (conv, depthwise, pooling): ``sliding_window`` keeps each consumer's (each replica's) input window in a register, so the first vector of an output row (or of a replica's share of the row) reads and transfers the whole window and each following vector only the kh x stride_w x cin activations the window moves onto; ``none`` reads and transfers the whole window (K activations) for every vector (baseline). 1x1 convolutions and linear layers reuse nothing either way."""


class SimulationConfig(Section):
    """Defaults of a run (each can be overridden on the command line)."""

    batch: int = Field(default=4, gt=0, le=1_000_000)
    """Inferences streamed through the chip; latency is the first one's, throughput the steady state."""
    seed: int = Field(default=0, ge=0)
    """Root seed of every random draw (device instances, noise, calibration vectors)."""
    mode: Mode = "exact"
    """``exact``: one event sequence per input vector; ``grouped``: vectors grouped per event (faster)."""
    group_min_vectors: int = Field(default=16, ge=2)
    """Grouped mode books a whole output row as one group only when the row has at least this many vectors; shorter rows run vector by vector, as in exact mode."""


class EnergyTable(Section):
    """Energy per action. The engine counts actions; these figures price them."""

    cell_read_fj: float = Field(ge=0)
    """Energy of one cell in one analog evaluation at full-scale input, fJ."""
    row_drive_pj: float = Field(ge=0)
    """Energy of one row (word-line) input driver in one evaluation, pJ."""
    adc_conversion_pj: float = Field(ge=0)
    """Energy of one conversion at adc_reference_bits, pJ."""
    adc_reference_bits: int = Field(ge=1, le=16)
    """Resolution at which adc_conversion_pj was taken."""
    adc_energy_doubling_per_bit: float = Field(ge=0, le=2)
    """Exponent k of ADC energy scaling E(b) = E_ref * 2**(k (b - b_ref)); 1 is Walden-FoM scaling (and a counting converter's, one step per code)."""
    input_reference_bits: int | None = Field(default=None, ge=1, le=16)
    """Input bits at which cell_read_fj and row_drive_pj were taken; other input widths scale them by the input mode's rule (docs/validation.md); absent: no scaling."""
    column_digital_pj: float = Field(ge=0)
    """Digital shift-add, offset removal and calibration correction of one column output, pJ."""
    macro_control_pj: float = Field(ge=0)
    """Macro control and timing per analog evaluation, pJ."""
    tile_buffer_pj_per_bit: float = Field(ge=0)
    """Tile activation SRAM access, pJ per bit (read or write)."""
    global_buffer_pj_per_bit: float = Field(ge=0)
    """Global buffer access, pJ per bit."""
    link_pj_per_bit_hop: float = Field(ge=0)
    """Interconnect transfer, pJ per bit per hop."""
    digital_op_pj: float = Field(ge=0)
    """One digital-unit operation (add, multiply-by-scale, compare), pJ."""
    mram_write_pj_per_bit: float = Field(ge=0)
    """Programming one MRAM bit (macro level), pJ."""
    offchip_pj_per_bit: float = Field(ge=0)
    """Off-chip memory access, pJ per bit read or written through the off-chip port (its staging in the global buffer is not charged on top)."""
    bitcell_op_fj: float = Field(default=0.0, ge=0)
    """Digital macro: one bit-cell's multiply (XNOR) and full-adder step in one macro cycle, fJ."""
    input_line_pj: float = Field(default=0.0, ge=0)
    """Digital macro: driving one input bit onto one input line (across all output bands) in one macro cycle, pJ."""
    register_bit_fj: float = Field(default=0.0, ge=0)
    """Digital macro: clocking one pipeline-register bit of a used band in one macro cycle, with its share of the control, fJ."""
    decoder_pj: float = Field(default=0.0, ge=0)
    """Digital macro: the bit-line decoder in one macro cycle, pJ."""
    leakage_mw_per_macro: float = Field(ge=0)
    """Static power of one macro's periphery, mW."""
    leakage_mw_per_tile: float = Field(ge=0)
    """Static power of one tile (buffer, digital unit), mW."""


class AreaTable(Section):
    """Area of each component."""

    cell_um2: float = Field(gt=0)
    """One memory cell (stacked MTJ + access transistor; a digital bit-cell with its multiplier and full adder), um^2."""
    adc_um2: float = Field(gt=0)
    """One ADC at the energy table's adc_reference_bits, um^2."""
    adc_area_doubling_per_bit: float = Field(ge=0, le=2)
    """Exponent of ADC area scaling A(b) = A_ref * 2**(k (b - b_ref))."""
    row_driver_um2: float = Field(gt=0)
    """One row input driver (binary-weighted DAC; a digital macro's input-line driver), um^2."""
    column_digital_um2: float = Field(ge=0)
    """Per-column digital shift-add and calibration logic, um^2."""
    macro_control_um2: float = Field(ge=0)
    """Per-macro control, timing and reference generation (a digital macro's control and pipeline registers), um^2."""
    decoder_um2: float = Field(default=0.0, ge=0)
    """Digital macro: the bit-line decoder, um^2."""
    buffer_mm2_per_kib: float = Field(gt=0)
    """SRAM buffer area, mm^2 per KiB."""
    digital_unit_mm2: float = Field(ge=0)
    """One tile's digital unit, mm^2."""
    router_mm2: float = Field(ge=0)
    """One interconnect router or bus interface, mm^2."""
    chip_control_mm2: float = Field(ge=0)
    """Chip-level control, mm^2."""


class TechnologyConfig(Section):
    """The technology cost table (energy per action, area per component)."""

    node_nm: float = Field(gt=0)
    """Process node, nm (informational)."""
    energy: EnergyTable
    area: AreaTable


class ChipLinkConfig(Section):
    """One chip-to-chip link, each direction (docs/systems.md; figures in docs/sources.md s7)."""

    bandwidth_gbps: float = Field(gt=0, le=1e6)
    """Data one direction of the link carries, Gb/s (after line coding)."""
    latency_ns: float = Field(default=0.0, ge=0, le=1e6)
    """Latency of one hop over the link (transmitter, wire, receiver), ns."""
    pj_per_bit: float = Field(ge=0)
    """Energy of one bit sent over one hop of the link, pJ."""
    area_mm2: float = Field(default=0.0, ge=0)
    """Area of the link's interface (PHY and adapter) on each chip it joins, mm^2."""


class HostMemoryConfig(Section):
    """The host memory all chips share: network inputs and outputs, and tensors kept off the chips."""

    bandwidth_gbps: float = Field(gt=0, le=1e7)
    """Data the host memory serves to all chips together, Gb/s (reads and writes share it)."""
    capacity_gib: float = Field(gt=0)
    """Capacity of the host memory, GiB: the tensors kept there must fit."""


class SystemConfig(Section):
    """Several identical chips joined by chip-to-chip links (a system file fills this section, docs/systems.md)."""

    chips: int = Field(default=1, gt=0, le=4096)
    """Chips in the system, each the architecture's chip."""
    topology: Literal["ring", "mesh", "star", "all_to_all", "custom"] = "ring"
    """``ring``: a bidirectional ring, the shorter way round; ``mesh``: a 2-D mesh, X then Y; ``star``: every chip one link to and from a switch (two hops between chips); ``all_to_all``: one link between every pair; ``custom``: the links of ``connections``, a transfer taking the fewest hops (the lowest-numbered chip first on a tie)."""
    connections: tuple[tuple[int, int], ...] = ()
    """With ``topology: custom``: the pairs of chips (numbered from 0) joined by a link, each a link per direction, e.g. ``[[0, 1], [1, 2]]``."""
    link: ChipLinkConfig
    host: HostMemoryConfig | None = None
    """The shared host memory; without it each chip's off-chip port reaches a host memory that never makes it wait."""
    reprogramming: bool = True
    """Allow programming rounds when the weights need more macros than the system has; false: such a workload is refused."""
    partition: Literal["fill", "spread"] = "fill"
    """How a network that needs fewer chips than the system has is cut: ``fill``, rounds of one whole chip each, the spare chips idle; ``spread``, rounds balanced by macros over every chip (the fewest macros per round that still make at most one round per chip), each chip replicating its layers into the macros left (docs/systems.md)."""
    members: tuple[ArchConfig, ...] = ()
    """Each chip's own architecture, one per chip, when a system file's ``chips`` lists chips that differ (docs/systems.md, Different chips); empty: every chip is this architecture."""
    copies: int | Literal["auto"] = 1
    """Copies of the network run side by side, each on its own chips, inference i on copy i mod ``copies`` (data parallel, docs/systems.md, Copies); ``auto``: as many as the chips hold with no reprogramming (the chips over the chips one copy needs); 1: one copy."""

    @field_validator("connections")
    @classmethod
    def _check(cls, connections: tuple[tuple[int, int], ...], info: ValidationInfo) -> tuple[tuple[int, int], ...]:
        topology, chips = info.data.get("topology"), info.data.get("chips")
        if topology is None or chips is None:
            return connections  # reported on their own fields
        if not isinstance(chips, int):  # a system file's list of chip entries
            counts = [e.get("count", 1) if isinstance(e, dict) else 1 for e in chips]
            if not all(isinstance(n, int) for n in counts):
                return connections  # the entry is refused on its own
            chips = sum(counts)
        if topology != "custom":
            if connections:
                raise ValueError(f"connections are the links of topology custom; topology is {topology}")
            return connections
        if not connections and chips > 1:
            raise ValueError(f"topology custom needs connections: the pairs of chips joined by a link "
                             f"(the chips are 0 to {chips - 1})")
        seen = set()
        for a, b in connections:
            for x in (a, b):
                if not 0 <= x < chips:
                    raise ValueError(f"connection [{a}, {b}] names chip {x}; the chips are 0 to {chips - 1}")
            if a == b:
                raise ValueError(f"connection [{a}, {b}] joins a chip to itself")
            seen |= {(a, b), (b, a)}
        reach, todo = {0}, [0]
        while todo:
            x = todo.pop()
            for a, b in seen:
                if a == x and b not in reach:
                    reach.add(b)
                    todo.append(b)
        if len(reach) < chips:
            lost = sorted(set(range(chips)) - reach)
            raise ValueError(f"chip(s) {', '.join(map(str, lost))} cannot be reached from chip 0 over the "
                             f"connections")
        return connections

    @field_validator("members")
    @classmethod
    def _members(cls, members: tuple, info: ValidationInfo) -> tuple:
        chips = info.data.get("chips")
        if members and chips is not None and not isinstance(chips, int):
            raise ValueError("a system file's chips list makes its members; a system file does not name them")
        if members and chips is not None and len(members) != chips:
            raise ValueError(f"{len(members)} chip architectures for {chips} chips; give one per chip")
        if any(m.system is not None for m in members):
            raise ValueError("a chip's architecture has a system section of its own; a system's chip is one chip")
        from accelsim.config.members import member_difference

        for k, m in enumerate(members[1:], 1):
            why = member_difference(members[0], m)
            if why is not None:  # named at the entry (config/validate.py reads ``entry``)
                raise PydanticCustomError(
                    "member_differs", "chip {entry} differs from chip 0 in {why}; the chips of a system share the "
                    "chip's word widths, the mapping and simulation options and the macro's kind (all but its size), "
                    "and may differ in the rest (docs/systems.md, Different chips)", {"entry": k, "why": why})
        return members

    @field_validator("copies", mode="before")
    @classmethod
    def _copies_value(cls, copies: object) -> object:
        if isinstance(copies, float) and copies.is_integer():  # 2.0, as every integer field takes it
            copies = int(copies)
        if copies == "auto" or isinstance(copies, int) and not isinstance(copies, bool) and 1 <= copies <= 4096:
            return copies
        raise ValueError("expected a whole number of copies from 1 to 4,096, or auto")

    @field_validator("copies")
    @classmethod
    def _copies(cls, copies: int | str, info: ValidationInfo) -> int | str:
        chips, members = info.data.get("chips"), info.data.get("members")
        if copies == 1:
            return copies
        if members:
            raise ValueError("copies of a network run on chips alike; this system's chips differ")
        chosen = (info.context or {}).get("chips_chosen", False)  # accelsim size picks the chips later
        if isinstance(copies, int) and isinstance(chips, int) and copies > chips and not chosen:
            raise ValueError(f"{copies} copies need at least {copies} chips; the system has {chips}")
        return copies


def first_difference(a: Any, b: Any) -> tuple[str, Any, Any]:
    """The first dotted path (``.adc.bits``, empty for the values themselves) at which ``a`` and ``b``
    differ, and their values there."""
    a = a.model_dump() if isinstance(a, BaseModel) else a
    b = b.model_dump() if isinstance(b, BaseModel) else b
    if isinstance(a, dict) and isinstance(b, dict):
        for key in a:
            if a[key] != b.get(key):
                where, x, y = first_difference(a[key], b.get(key))
                return f".{key}{where}", x, y
    return "", a, b


class ArchConfig(Section):
    """A whole accelerator: the top level of an architecture YAML."""

    name: str = Field(min_length=1)
    """Short name of the architecture."""
    description: str = ""
    """Free text, shown in reports."""
    clock: ClockConfig
    macro: MacroConfig
    chip: ChipConfig
    interconnect: InterconnectConfig
    mapping: MappingConfig = MappingConfig()
    simulation: SimulationConfig = SimulationConfig()
    technology: TechnologyConfig
    system: SystemConfig | None = None
    """Several copies of this chip with links between them (docs/systems.md); absent: one chip."""

    @field_validator("system")
    @classmethod
    def _first_member_is_this_chip(cls, system: SystemConfig | None, info: ValidationInfo) -> SystemConfig | None:
        members = system.members if system is not None else ()
        for name in cls.model_fields if members else ():
            if name in ("system", "name", "description") or name not in info.data:
                continue  # a section that failed its own check is named there
            mine, first = info.data[name], getattr(members[0], name)
            if mine != first:
                where, a, b = first_difference(mine, first)
                raise ValueError(f"system.members[0] is this architecture's own chip (the first chip of a system "
                                 f"of different chips): it must hold the same sections, but {name}{where} is "
                                 f"{a!r} here and {b!r} in members[0]")
        return system

    @property
    def chips(self) -> int:
        """Chips this architecture has: the system's, else 1."""
        return self.system.chips if self.system is not None else 1

    @property
    def sized_apart(self) -> bool:
        """Whether the chips of this system differ in size: in their tiles or their macros per tile, so
        in how the system numbers its tiles and macros."""
        members = self.system.members if self.system is not None else ()
        return bool(members) and any((m.chip.tiles, m.chip.macros_per_tile) !=
                                     (members[0].chip.tiles, members[0].chip.macros_per_tile) for m in members)

    def chip_at(self, chip: int) -> ChipConfig:
        """Chip ``chip``'s chip section: its size and layout (buffers, ports; docs/systems.md, Different
        chips)."""
        members = self.system.members if self.system is not None else ()
        return members[chip].chip if members else self.chip

    def chip_tiles(self, chip: int) -> int:
        """Tiles of chip ``chip``."""
        return self.system.members[chip].chip.tiles if self.sized_apart else self.chip.tiles

    def chip_macros(self, chip: int) -> int:
        """Macros of chip ``chip``."""
        return self.system.members[chip].chip.macros if self.sized_apart else self.chip.macros

    def tile_base(self, chip: int) -> int:
        """The system-wide index of chip ``chip``'s first tile: the chips' tiles are numbered in chip order."""
        if not self.sized_apart:
            return chip * self.chip.tiles
        return sum(m.chip.tiles for m in self.system.members[:chip])

    def macro_base(self, chip: int) -> int:
        """The system-wide index of chip ``chip``'s first macro: the chips' macros are numbered in chip order."""
        if not self.sized_apart:
            return chip * self.chip.macros
        return sum(m.chip.macros for m in self.system.members[:chip])

    def chip_of_tile(self, tile: int) -> int:
        """The chip that holds system-wide tile ``tile``."""
        if not self.sized_apart:
            return tile // self.chip.tiles
        return self._chip_of(tile, "tiles")

    def chip_of_macro(self, macro: int) -> int:
        """The chip that holds system-wide macro ``macro``."""
        if not self.sized_apart:
            return macro // self.chip.macros
        return self._chip_of(macro, "macros")

    def _chip_of(self, index: int, field: str) -> int:
        """The chip whose tiles or macros (``field``), numbered in chip order, hold ``index``."""
        c, base = 0, 0
        for c, m in enumerate(self.system.members):
            base += getattr(m.chip, field)
            if index < base:
                return c
        return c

    def tile_of_macro(self, macro: int) -> int:
        """The system-wide tile that holds system-wide macro ``macro`` (each chip has its own macros per
        tile)."""
        if not self.sized_apart:
            return macro // self.chip.macros_per_tile
        c = self.chip_of_macro(macro)
        return self.tile_base(c) + (macro - self.macro_base(c)) // self.system.members[c].chip.macros_per_tile

    @property
    def total_macros(self) -> int:
        return self.macro_base(self.chips) if self.sized_apart else self.chip.macros * self.chips

    @property
    def total_tiles(self) -> int:
        return self.tile_base(self.chips) if self.sized_apart else self.chip.tiles * self.chips


SystemConfig.model_rebuild()
