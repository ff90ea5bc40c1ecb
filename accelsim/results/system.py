"""The answer of ``accelsim size``: a workload on systems of 1, 2, 4, ... chips (docs/systems.md)."""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.plain import Record


@dataclass(frozen=True)
class SizePoint(Record):
    """One system size: the run's headline figures (each as ``accelsim run --system`` reports it)."""

    chips: int
    rounds: int
    """Programming rounds of the system per batch (1: every weight stays on the chips)."""
    throughput_inferences_per_s: float
    latency_s: float
    energy_per_inference_j: float
    area_mm2: float
    effective_tops_per_w: float
    macro_utilization: float
    chip_link_bits_per_inference: float
    host_bits_per_inference: float
    bound_resource: str
    copies: int = 1
    """Copies of the network side by side on the chips (``system.copies``, ``auto`` resolved)."""


@dataclass(frozen=True)
class SizeResult(Record):
    """How many chips a workload needs with no reprogramming, and the figures at each size tried."""

    workload: str
    arch: str
    """The chips' architecture."""
    system: str
    """The system file whose links and host memory every size uses."""
    chips_needed: int
    """Chips that hold every weight at once: the programming rounds of one chip's plan."""
    batch: int
    points: tuple[SizePoint, ...]
