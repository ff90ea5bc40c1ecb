"""The result of one ``simulate`` call, and the figures :mod:`accelsim.cost.run` derives for it."""

from __future__ import annotations

from dataclasses import dataclass, field

from accelsim.plain import Record, count, data_frame, percent, si
from accelsim.results.bottleneck import Bottleneck
from accelsim.results.timing import PathPart, SteadyState


@dataclass(frozen=True)
class VerifiedWhatIf(Record):
    """A what-if variant simulated by the engine on the same plan (``run --verify``)."""

    resource: str
    changes: tuple[str, ...]
    throughput_inferences_per_s: float
    bound_if_2x_inferences_per_s: float | None


@dataclass(frozen=True)
class ChipFigures(Record):
    """One chip of a system over the batch run (docs/reports.md, Systems)."""

    chip: int
    macros_used: int
    macro_utilization: float
    """Busy cycles of its macros over (its macros x the run's cycles)."""
    layers: tuple[str, ...]
    """The layers with a stage on it, in layer order."""
    arch: str | None = None
    """A system of different chips: the chip's architecture (its name and the ``set`` of its entry); None otherwise."""
    energy_per_inference_j: float | None = None
    """A system of different chips: the chip's actions at its own table, per inference (the chip links, the
    setup and leakage not included); None otherwise."""
    counts_per_inference: dict[str, float] | None = None
    """A system of different chips: the chip's actions per inference (they sum to the run's); None otherwise."""
    macros: int | None = None
    """A system of chips of different sizes: the chip's macros; None when the chips are alike."""
    copy: int | None = None
    """A system of copies of the network (``system.copies``): the copy whose stages the chip runs; None for a
    chip no copy uses, and on a system of one copy."""


@dataclass(frozen=True)
class LinkLoad(Record):
    """One chip-to-chip link (or a host memory port) over the batch run."""

    link: str
    busy_cycles: int
    utilization: float


@dataclass(frozen=True)
class SystemFigures(Record):
    """What a run on a system of several chips adds (docs/systems.md, docs/reports.md)."""

    chips: int
    topology: str
    tiles_per_chip: int
    """The first chip's tiles (every chip's, when they are alike)."""
    chips_needed: int
    """Chips that hold the workload's weights with no reprogramming: the rounds of one chip's plan."""
    per_chip: tuple[ChipFigures, ...]
    links: tuple[LinkLoad, ...]
    """Every chip-to-chip link a transfer crossed, and the host memory's port when there is one."""
    chip_link_bits_per_inference: float
    """Bits sent over chip-to-chip links per inference, once per link crossed."""
    host_bits_per_inference: float
    """Bits read from or written to the host memory (the chips' off-chip ports) per inference."""
    copies: int = 1
    """Copies of the network side by side, each on its own chips (``system.copies``, ``auto`` resolved):
    inference i runs on copy i mod ``copies``."""
    tiles_by_chip: tuple[int, ...] = ()
    """A system of chips of different sizes: each chip's tiles, in chip order (its tiles follow the
    chips before it); empty when the chips are alike."""

    def chip_of_tile(self, tile: int) -> int:
        """The chip that holds system-wide tile ``tile``."""
        if not self.tiles_by_chip:
            return tile // self.tiles_per_chip
        base = 0
        for c, n in enumerate(self.tiles_by_chip):
            base += n
            if tile < base:
                return c
        return len(self.tiles_by_chip) - 1


@dataclass(frozen=True)
class LayerFigures:
    """A layer's figures derived from its counts and cycles (:func:`accelsim.cost.layer_figures`);
    :class:`LayerResult` extends it with what the plan and the engine say of the layer."""

    latency_share: float
    macro_utilization: float
    energy_per_inference_j: float


@dataclass(frozen=True)
class LayerResult(LayerFigures, Record):
    """Per-layer figures of a run (summed over the layer's column parts).

    Cycles are those of one inference alone on the chip: ``cycles`` from its
    first issued vector to its last completed row; ``latency_share`` = cycles /
    latency (shares overlap in the pipelined schedule and then sum to more than 1).
    ``latency_breakdown``: the cycles of the latency's critical path spent in
    this layer, by cause; over all layers they sum to the latency exactly.
    """

    name: str
    kind: str
    unit: str
    macros: int
    replicas: int
    rounds: int
    vectors: int
    macs: int
    start_cycle: int
    cycles: int
    cell_utilization: float
    critical_path_cycles: int
    latency_breakdown: dict[str, int] = field(metadata={"key": "latency_breakdown_cycles"})

    def __repr__(self) -> str:
        where = "the digital unit" if self.unit == "digital" else count(self.macros, "macro")
        if self.replicas > 1:
            where += f" ({self.replicas} replicas)"
        return (f"LayerResult({self.name}, {self.kind} on {where}: {count(self.cycles, 'cycle')} "
                f"({percent(self.latency_share)} of the latency), {si(self.energy_per_inference_j, 'J')}/inference)")


@dataclass(frozen=True)
class RunFigures:
    """A run's figures derived from its counts, cycles and the bottleneck model's bound
    (:func:`accelsim.cost.run_figures`, docs/reports.md); :class:`RunResult` extends it with what
    the run, the plan and the engine say."""

    latency_s: float
    throughput_inferences_per_s: float
    throughput_bound_inferences_per_s: float
    bound_cycles_per_inference: float
    bound_resource_busy_share: float
    energy_per_inference_j: float
    energy_breakdown_j: dict[str, float]
    setup_energy_j: float
    area_mm2: float
    area_breakdown_mm2: dict[str, float]
    executed_macs: int
    analog_macs: int
    digital_macs: int
    padded_macs: int
    effective_tops: float
    effective_tops_1b: float
    effective_tops_per_w: float
    effective_tops_per_w_1b: float
    effective_tops_per_mm2: float
    effective_tops_per_mm2_1b: float
    peak_tops: float
    peak_tops_1b: float
    peak_tops_per_w: float
    peak_tops_per_w_1b: float
    peak_tops_per_mm2: float
    peak_tops_per_mm2_1b: float
    peak_macro_tops_per_mm2: float
    """One macro's peak TOPS over one macro's area (what ``accelsim macro`` reports as tops_per_mm2)."""
    peak_macro_tops_per_mm2_1b: float
    macro_utilization: float
    counts_per_inference: dict[str, float]
    offchip_bits_per_inference: float
    resource_utilization: dict[str, float]


@dataclass(frozen=True)
class RunResult(RunFigures, Record):
    """Everything one ``simulate`` call reports. Units are in the names."""

    arch: str
    workload: str
    seed: int
    batch: int
    mode: str
    schedule: str
    clock_mhz: float
    rounds: int
    latency_cycles: int
    batch_first_latency_cycles: int
    bound_per_batch_cycles: int
    bound_resource: str
    steady_state: SteadyState | None
    latency_breakdown: dict[str, int] = field(metadata={"key": "latency_breakdown_cycles"})
    critical_path: tuple[PathPart, ...]
    bottleneck: Bottleneck
    total_cycles: int
    programming_cycles: int
    setup_programming_cycles: int
    workload_macs: int
    cell_utilization: float
    macros_used: int
    macro_busy_cycles: tuple[int, ...]
    macro_programming_cycles: tuple[int, ...]
    peak_buffer_bits: dict[str, int]
    layers: tuple[LayerResult, ...]
    events: int
    macros_per_tile: int
    """The first chip's macros per tile (every tile's, unless ``macros_by_tile`` says otherwise)."""
    macros_by_tile: tuple[int, ...] = field(default=(), metadata={"omit_if": lambda v: not v})
    """A system whose chips differ in macros per tile: each system-wide tile's macros, in tile order
    (a tile's macros follow the tiles' before it); empty when every tile has ``macros_per_tile``."""
    what_if_verified: tuple[VerifiedWhatIf, ...] = ()
    trace: tuple[dict, ...] = field(default=(), repr=False, compare=False, metadata={"json": False})
    trace_truncated: bool = False
    system: SystemFigures | None = field(default=None, metadata={"omit_if": lambda v: v is None})

    def __repr__(self) -> str:
        rounds = f", {self.rounds} programming rounds" if self.rounds > 1 else ""
        return (f"RunResult({self.workload} on {self.arch}: {si(self.latency_s, 's')} latency, "
                f"{si(self.throughput_inferences_per_s, ' inferences/s')}, "
                f"{si(self.energy_per_inference_j, 'J')}/inference, {self.area_mm2:.4g} mm²{rounds}, "
                f"bound by {self.bound_resource})")

    def layers_frame(self):
        """The per-layer table as a pandas DataFrame: one row per layer, the columns of
        ``run --csv layers`` (``name``, ``kind``, ``unit`` first; ``latency_breakdown_cycles.<cause>``
        for the latency breakdown, NaN where a layer spent no cycles on a cause). Needs the ``frames``
        extra; :meth:`to_frame` is the run's one-row summary."""
        return data_frame([layer.to_dict() for layer in self.layers], first=("name", "kind", "unit"))
