"""The bottleneck model's answer for one plan (:mod:`accelsim.mapping.whatif` computes it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from accelsim.plain import Record, count, si


@dataclass(frozen=True)
class ResourceLoad(Record):
    """One resource's work: busy cycles per inference (summed over the rounds) and its share of the bound."""

    name: str = field(metadata={"key": "resource"})
    kind: str
    busy_cycles_per_inference: Fraction
    share_of_bound: float


@dataclass(frozen=True)
class RoundBound(Record):
    """One round's part of the bound.

    ``bound_cycles_per_inference`` is max_r D_k(r) of the round, bound by
    ``bound_resource``; ``programming_cycles`` its P_k (paid per batch in a
    multi-round plan, once as setup in a one-round plan); ``share_of_bound``
    the round's part (P_k / B + max_r D_k(r), or max_r D_k(r) for a one-round
    plan) of the plan's bound: the rounds' shares sum to 1.
    """

    index: int = field(metadata={"key": "round"})
    programming_cycles: int
    bound_resource: str
    #: a Fraction on a system of copies of the network (each resource's cycles of the batch over the batch)
    bound_cycles_per_inference: int | Fraction
    share_of_bound: float


@dataclass(frozen=True)
class WhatIf(Record):
    """The bound if ``resource``'s class were twice as fast.

    ``changes`` are the dotted overrides that make it so (apply them with
    :func:`accelsim.mapping.whatif.variant_arch`, ``load_arch(name, changes)``
    or ``--set``). When no architecture change doubles the resource
    (``possible`` false: an unknown resource, a macro already at 1 cycle per
    MVM, a variant that does not validate) ``changes`` is empty, the bound
    fields are None and ``note`` says why. ``per_batch_cycles_if_2x`` / batch
    is ``bound_cycles_if_2x`` exactly; ``speedup_if_2x`` is the bound now over
    the bound with the change (1.0: the change does not help this plan).
    """

    resource: str
    kind: str
    busy_cycles_per_inference: Fraction
    share_of_bound: float
    changes: tuple[str, ...]
    possible: bool
    note: str
    bound_cycles_if_2x: Fraction | None = field(metadata={"key": "bound_cycles_per_inference_if_2x"})
    per_batch_cycles_if_2x: int | None
    speedup_if_2x: float | None
    throughput_if_2x_per_s: float | None = field(metadata={"key": "throughput_if_2x_inferences_per_s"})

    def __repr__(self) -> str:
        if not self.possible:
            return f"WhatIf({self.resource} twice as fast: not possible, {self.note})"
        return (f"WhatIf({self.resource} twice as fast: {self.speedup_if_2x:.2f}x, "
                f"{si(self.throughput_if_2x_per_s, ' inferences/s')}, with {', '.join(self.changes)})")


@dataclass(frozen=True)
class Bottleneck(Record):
    """The bottleneck model's answer for one plan on one architecture.

    ``bound_cycles_per_inference`` is exactly ``per_batch_cycles / batch``
    (integers, for exact comparisons: a simulated batch takes at least
    ``per_batch_cycles`` cycles, not counting a one-round plan's setup
    programming); on a system of copies of the network (``system.copies``)
    it is a stream's, each copy's cycles over the copies, and
    ``per_batch_cycles`` the batch's as dealt (a batch that is not a whole
    number of turns leaves the first copies one inference more);
    ``throughput_bound_per_s`` is f_clk / that: no schedule of
    this plan runs more inferences per second (None for a zero bound).
    ``bound_resource`` is the resource with the most busy cycles per inference
    (ties as :func:`accelsim.mapping.demand.bottleneck` breaks them); in a
    one-round plan its share is 1. ``resources`` are sorted from the busiest
    down; ``what_if`` covers the first ``top`` of them.
    """

    bound_cycles_per_inference: Fraction
    per_batch_cycles: int
    batch: int
    rounds_count: int
    throughput_bound_per_s: float | None = field(metadata={"key": "throughput_bound_inferences_per_s"})
    setup_programming_cycles: int
    bound_resource: str
    resources: tuple[ResourceLoad, ...]
    rounds: tuple[RoundBound, ...]
    what_if: tuple[WhatIf, ...]
    frequency_mhz: float = field(metadata={"json": False})

    def __repr__(self) -> str:
        return (f"Bottleneck({self.bound_resource}: {float(self.bound_cycles_per_inference):,.6g} cycles/inference, "
                f"at most {si(self.throughput_bound_per_s, ' inferences/s')}, "
                f"{count(self.rounds_count, 'round')}, batch {self.batch})")

    def resource(self, name: str) -> ResourceLoad:
        """The load of the resource called ``name`` (KeyError when it does no work)."""
        for r in self.resources:
            if r.name == name:
                return r
        raise KeyError(name)
