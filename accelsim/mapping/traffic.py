"""The bits each tensor of a plan moves per inference, and where: the traffic of spills and partial sums.

Every vector of a stage reads its inputs and writes its output (and, for a
part of a layer split along K, partial sums) through the store of each
tensor (:class:`~accelsim.mapping.plan.TensorPlacement`): a tile buffer, the
global buffer or off-chip memory. Summed over each replica's loading and
sliding vectors, as the engine deals them (:mod:`accelsim.mapping.deal`),
these are the bits the engine counts per inference at each store
(``tile_buffer_bits``, ``global_buffer_bits``, ``offchip_bits``), split by
tensor: a tensor spilled off-chip shows its size written and what its
consumers read back; a layer split along K shows its partial sums written
by one part and read by the next (docs/engine.md, Streaming).
"""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.mapping.demand import replica_shares
from accelsim.mapping.plan import Round, Stage, Store, TilePlan
from accelsim.mapping.streaming import partial_sum_tensors


@dataclass(frozen=True)
class TensorTraffic:
    """One tensor's traffic in one round, bits per inference.

    ``partial_sums``: the tensor holds the partial sums of a layer split along
    K (:attr:`~accelsim.mapping.plan.Stage.psum_output`), not activations.
    """

    round: int
    tensor: str
    store: Store
    partial_sums: bool
    written_bits: int
    read_bits: int


def _input_reads(st: Stage) -> dict[str, int]:
    """Bits one inference of ``st`` reads from each input tensor (loading and sliding vectors)."""
    shares = replica_shares(st.out_rows, st.vectors_per_row, max(1, len(st.replicas)))
    loads = sum(a for a, _ in shares)
    slides = sum(b for _, b in shares)
    out: dict[str, int] = {}
    for inp in st.inputs:
        bits = loads * inp.read_bits(True) + slides * inp.read_bits(False)
        out[inp.tensor] = out.get(inp.tensor, 0) + bits
    return out


def round_traffic(rnd: Round) -> tuple[TensorTraffic, ...]:
    """The traffic of every tensor of ``rnd`` (in the round's tensor order)."""
    written: dict[str, int] = {}
    read: dict[str, int] = {}
    psums = partial_sum_tensors(rnd)
    for st in rnd.stages:
        for tensor, bits in _input_reads(st).items():
            read[tensor] = read.get(tensor, 0) + bits
        written[st.output] = written.get(st.output, 0) + st.vectors * st.output_bits_per_vector
        if st.psum_output:
            written[st.psum_output] = written.get(st.psum_output, 0) + st.vectors * st.psum_output_bits_per_vector
    return tuple(TensorTraffic(rnd.index, t.tensor, t.store, t.tensor in psums, written.get(t.tensor, 0),
                               read.get(t.tensor, 0)) for t in rnd.tensors)


def plan_traffic(plan: TilePlan) -> tuple[TensorTraffic, ...]:
    """The traffic of every tensor of every round of ``plan``."""
    return tuple(t for rnd in plan.rounds for t in round_traffic(rnd))


def store_bits(plan: TilePlan, store: Store, partial_sums: bool | None = None) -> int:
    """Bits per inference written and read at ``store`` (only partial sums, or only activations,
    when ``partial_sums`` says which): ``offchip`` is the engine's ``offchip_bits`` per inference."""
    return sum(t.written_bits + t.read_bits for t in plan_traffic(plan)
               if t.store == store and (partial_sums is None or t.partial_sums == partial_sums))


__all__ = ["TensorTraffic", "plan_traffic", "round_traffic", "store_bits"]
