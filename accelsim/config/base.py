"""The base class of every config section."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A frozen, strict config section: unknown keys are errors.

    Field documentation is written as attribute docstrings; they become the
    fields' descriptions and, from there, docs/configuration.md.
    """

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        use_attribute_docstrings=True,
        validate_default=True,
        allow_inf_nan=False,  # an energy of .inf or a size of .nan is a mistake, not a figure
    )
