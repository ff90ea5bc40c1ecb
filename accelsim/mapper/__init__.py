"""The mapping search (docs/mapping.md)."""
