"""Action counts: what the hardware did, before any cost is attached.

The macro model and the engine emit counts; :mod:`accelsim.cost` prices them
with the technology table, so a new table re-prices a run without
re-simulating it (counts first, costs second).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from enum import Enum
from types import MappingProxyType


class Action(str, Enum):
    """Every kind of action that costs energy."""

    MACRO_EVALUATION = "macro_evaluation"   #: one analog evaluation of one macro (control, timing)
    CELL_READ = "cell_read"                 #: one cell taking part in one analog evaluation
    ROW_DRIVE = "row_drive"                 #: one row input driver firing in one evaluation
    ADC_CONVERSION = "adc_conversion"       #: one ADC conversion
    COLUMN_DIGITAL = "column_digital"       #: shift-add / offset / calibration of one column result
    TILE_BUFFER_BITS = "tile_buffer_bits"   #: bits read from or written to a tile activation buffer
    GLOBAL_BUFFER_BITS = "global_buffer_bits"  #: bits read from or written to the global buffer
    LINK_BIT_HOPS = "link_bit_hops"         #: bits moved one hop on the interconnect
    CHIP_LINK_BITS = "chip_link_bits"       #: bits moved one hop over a chip-to-chip link (a system)
    DIGITAL_OPS = "digital_ops"             #: digital-unit operations (accumulate, normalise, activate, pool)
    MRAM_WRITE_BITS = "mram_write_bits"     #: MRAM bits programmed
    OFFCHIP_BITS = "offchip_bits"           #: bits read from or written to off-chip memory through the off-chip port
    BITCELL_OP = "bitcell_op"               #: one digital bit-cell's multiply and full-adder step in one macro cycle
    INPUT_LINE = "input_line"               #: one input bit driven onto one input line of a digital macro
    REGISTER_BIT = "register_bit"           #: one pipeline-register bit of a digital macro clocked in one cycle
    DECODER_ACCESS = "decoder_access"       #: a digital macro's bit-line decoder in one macro cycle


class ActionCounts(Mapping):
    """An immutable bag of action counts; ``a + b`` adds, ``a * k`` scales.

    Counts are Python ints (exact, no overflow).
    """

    __slots__ = ("_c",)

    def __init__(self, counts: Mapping[Action | str, int] | None = None, **kw: int):
        c: dict[Action, int] = {}
        for key, value in {**(counts or {}), **kw}.items():
            action = Action(key)
            value = int(value)
            if value < 0:
                raise ValueError(f"negative count {value} for {action.value}")
            if value:
                c[action] = c.get(action, 0) + value
        self._c = MappingProxyType(c)

    def __getitem__(self, key: Action | str) -> int:
        return self._c.get(Action(key), 0)

    def __iter__(self) -> Iterator[Action]:
        return iter(self._c)

    def __len__(self) -> int:
        return len(self._c)

    def __add__(self, other: ActionCounts) -> ActionCounts:
        out = dict(self._c)
        for k, v in other.items():
            out[k] = out.get(k, 0) + v
        return ActionCounts(out)

    def __mul__(self, k: int) -> ActionCounts:
        if int(k) != k or k < 0:
            raise ValueError("counts scale by a non-negative whole number")
        return ActionCounts({a: v * int(k) for a, v in self._c.items()})

    __rmul__ = __mul__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ActionCounts) and dict(self._c) == dict(other._c)

    def __hash__(self) -> int:
        return hash(tuple(sorted((a.value, v) for a, v in self._c.items())))

    def __repr__(self) -> str:
        inner = ", ".join(f"{a.value}={v}" for a, v in self._c.items())
        return f"ActionCounts({inner})"

    def to_dict(self) -> dict[str, int]:
        return {a.value: v for a, v in self._c.items()}

    @staticmethod
    def total(items) -> ActionCounts:
        out: dict[Action, int] = {}
        for item in items:
            for k, v in item.items():
                out[k] = out.get(k, 0) + v
        return ActionCounts(out)
