"""Shared builders for the macro-model tests: architectures derived from mram72."""

from __future__ import annotations

import copy
from functools import lru_cache

from accelsim.config import ArchConfig, arch_from_dict, load_arch

NO_VARIATION = {
    "macro_gain_sigma": 0.0,
    "macro_offset_sigma_lsb": 0.0,
    "column_gain_sigma": 0.0,
    "column_offset_sigma_lsb": 0.0,
    "cell_sigma_r": 0.0,
    "read_noise_sigma_lsb": 0.0,
}


@lru_cache(maxsize=1)
def _base() -> dict:
    return load_arch("mram72").model_dump()


def _merge(into: dict, update: dict) -> None:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def arch_with(macro: dict | None = None, **sections) -> ArchConfig:
    """mram72 with the given macro fields (nested dicts merge) and other sections changed, validated."""
    data = copy.deepcopy(_base())
    _merge(data, {"macro": macro or {}, **sections})
    return arch_from_dict(data)


def ideal_arch(macro: dict | None = None) -> ArchConfig:
    """Every non-ideality off, calibration off."""
    fields = {"variation": dict(NO_VARIATION), "calibration": {"enabled": False}}
    _merge(fields, macro or {})
    return arch_with(fields)
