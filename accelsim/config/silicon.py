"""The macro library's index of published figures (configs/macros/validation.yaml).

Each entry names a whole architecture file of the library and the figures its
paper publishes, each at an operating point (dotted overrides of the file) and
marked ``fitted`` (a parameter was tuned to it: calibration) or ``predicted``
(no parameter was tuned to it: validation), and labelled with the sweep it belongs
to (``voltage/efficiency``, ``data/energy``, ...). An entry may state, per sweep, a
target for the mean absolute error of its predicted points and the tolerance each
of them must stay within.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from accelsim.config.base import Section
from accelsim.config.resources import builtin_dir
from accelsim.config.validate import validate_model
from accelsim.config.yamlio import load_yaml, require_mapping

#: figures of a macro characterisation a published point may name
Figure = Literal["tops_per_w", "tops_per_w_1b", "tops_per_mm2", "tops_per_mm2_1b", "tops", "tops_1b",
                 "energy_per_mvm_pj"]


class PublishedPoint(Section):
    """One published figure at one operating point."""

    figure: Figure
    """The characterisation figure compared: ``_1b`` marks 1-bit normalised (x B_in x B_w), else native;
    ``tops`` is one macro's; ``energy_per_mvm_pj`` one full MVM's."""
    published: float = Field(gt=0)
    """The paper's value, in the figure's unit."""
    status: Literal["fitted", "predicted"]
    """``fitted``: a parameter of the file was tuned to this value; ``predicted``: none was."""
    scope: Literal["macro", "chip"] = "macro"
    """What the published value covers: one macro, or a whole chip's measurement."""
    overrides: tuple[str, ...] = ()
    """Dotted overrides of the file that give the operating point (``macro.input_bits=8``)."""
    note: str = ""
    """What the point is and where it comes from."""
    sweep: str = Field(min_length=1)
    """The sweep the point belongs to (``voltage/efficiency``): points of one macro with one label are
    summarised together (fitted, predicted, mean and max error of the predicted)."""


class SweepSpec(Section):
    """What one sweep of a macro's points must meet."""

    name: str = Field(min_length=1)
    """The ``sweep`` label of its points."""
    target: float | None = Field(default=None, gt=0, le=1)
    """Bound on the mean absolute relative error of the sweep's predicted points (none: no target)."""
    tolerance: float | None = Field(default=None, gt=0, le=1)
    """Bound on each predicted point of the sweep (none: the library's predicted tolerance)."""
    note: str = ""
    """Where the target comes from and, when it is missed, by how much and why."""


class LibraryEntry(Section):
    """One published macro: its architecture file and its figures."""

    config: str = Field(min_length=1)
    """Architecture file, relative to this index."""
    paper: str = Field(min_length=1)
    """Short citation."""
    free_parameters: list[str] = Field(min_length=1)
    """The parameters tuned to published points (each with the points it was tuned to)."""
    limits: str = Field(min_length=1)
    """What the model of this macro leaves out."""
    points: list[PublishedPoint] = Field(min_length=1)
    """The published figures the file must reproduce."""
    sweeps: list[SweepSpec] = []
    """Targets and tolerances of some of the points' sweeps."""

    @model_validator(mode="after")
    def _check_sweeps(self) -> LibraryEntry:
        names = [s.name for s in self.sweeps]
        if len(set(names)) != len(names):
            raise ValueError(f"a sweep is stated twice: {names}")
        used = {p.sweep for p in self.points}
        for name in names:
            if name not in used:
                raise ValueError(f"sweep {name!r} has no point (points' sweeps: {sorted(used)})")
        return self

    def sweep_spec(self, name: str) -> SweepSpec | None:
        """The stated target and tolerance of sweep ``name``, if any."""
        return next((s for s in self.sweeps if s.name == name), None)


class MacroLibrary(Section):
    """The library index: every macro and its published figures."""

    macros: list[LibraryEntry] = Field(min_length=1)


def default_library_path() -> Path:
    """The shipped index, ``configs/macros/validation.yaml``."""
    return builtin_dir("configs") / "macros" / "validation.yaml"


def load_library(path: str | Path | None = None) -> tuple[MacroLibrary, Path]:
    """The validated index and the folder its ``config`` paths are relative to."""
    path = Path(default_library_path() if path is None else path)
    data, smap = load_yaml(path)
    data = require_mapping(data, smap, "a macro library index")
    return validate_model(MacroLibrary, data, smap), path.parent
