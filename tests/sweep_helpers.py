"""The small sweep the sweep, report and plot tests share: 2 x 2 points of kws_dscnn on mram72."""

from __future__ import annotations


def small_sweep(constraint: str = "area_mm2 <= 6") -> str:
    """The sweep file's text, with ``constraint`` as its one constraint."""
    return f"""name: small
base: mram72
workloads: [kws_dscnn]
parameters:
  macro.adc.bits: [5, 6]
  interconnect.link_width_bits: [32, 128]
fixed:
  simulation.batch: 1
objectives:
  - {{metric: energy_per_inference_j, goal: min}}
  - {{metric: throughput_inferences_per_s, goal: max}}
constraints: ["{constraint}"]
"""
