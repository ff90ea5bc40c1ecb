"""Every point of the searched space of a small case, for the tests that prove the search finds the
optimum (docs/mapping.md, "Proof"): every global choice, every partition into rounds, every replica
multiset per stage and, when asked, every combination of tensor stores."""

from __future__ import annotations

import itertools

from accelsim.config.arch import ArchConfig
from accelsim.mapper.spaces import Candidate, PlanSpace, RoundSpace, mapping_variant, store_options, unit_choices
from accelsim.workload import Workload


def enumerate_space(workload: Workload, arch: ArchConfig, batch: int, energy_pj, leak: float,
                    units_options: list[dict[str, bool]] | None = None, limit: int = 2_000_000,
                    rounds: bool = True, stores: bool = False):
    """Every point of the searched space of a small case, with its figures: (candidate, figures) pairs.
    For the tests that prove the search finds the optimum; refuses a space of more than ``limit`` points."""
    choosable = list(unit_choices(workload, arch))
    if units_options is None:
        units_options = [dict(zip(choosable, bits)) for bits in itertools.product((True, False), repeat=len(choosable))]
    from accelsim.mapper.rounds import all_partitions, atoms
    from accelsim.mapping.planner import prepare

    count = 0
    for schedule, reuse in itertools.product(("pipelined", "layer_by_layer"), ("sliding_window", "none")):
        for units in units_options:
            works, _, _ = prepare(workload, mapping_variant(arch, reuse, False), units)
            seq = atoms(works, arch.chip.macros)
            partitions = [None] + (list(all_partitions(seq, arch.chip.macros)) if seq and rounds else [])
            grouping_seen = set()
            for partition in partitions:
                first = PlanSpace(workload, arch, schedule, reuse, units, batch, energy_pj, leak, rounds=partition)
                if first.base.grouping in grouping_seen:
                    continue  # the planner's rounds are one of the partitions
                grouping_seen.add(first.base.grouping)
                for space in _store_spaces(first) if stores else (first,):
                    per_round = [list(_round_states(r)) for r in space.rounds]
                    for states in itertools.product(*per_round):
                        f = space.figures(states)
                        count += 1
                        if count > limit:
                            raise ValueError(f"more than {limit} plans")
                        if f is not None:
                            yield Candidate(schedule, reuse, tuple(sorted(units.items())), partition,
                                            space.tensors_key, states, f), space

def _store_spaces(space: PlanSpace):
    """``space`` with every combination of its tensors' stores the rules allow (for the enumeration)."""
    choices = [(k, t.tensor, store_options(space, k, t)) for k, rnd in enumerate(space.base.rounds)
               for t in rnd.tensors]
    choices = [c for c in choices if c[2]]
    for combo in itertools.product(*(opts for _, _, opts in choices)):
        out = space
        for (k, tensor, opts), store in zip(choices, combo):
            if store != opts[0]:
                out = out.with_store(k, tensor, store) if out is not None else None
        if out is not None:
            yield out

def _round_states(rspace: RoundSpace):
    """Every state of one round: per replicable stage a multiset of start tiles within the spare macros."""
    spare = sum(len(f) for f in rspace.base_free)
    tiles = [t for t in range(rspace.tiles) if rspace.base_free[t]]

    def rec(i, left):
        if i == len(rspace.stages):
            yield ()
            return
        if not rspace.replicable[i]:
            for rest in rec(i + 1, left):
                yield ((),) + rest
            return
        need = rspace.need[i]
        most = min(left // need if need else 0, rspace.stages[i].vectors - 1)
        for n in range(most + 1):
            for combo in itertools.combinations_with_replacement(tiles, n):
                for rest in rec(i + 1, left - n * need):
                    yield (combo,) + rest

    yield from rec(0, spare)
