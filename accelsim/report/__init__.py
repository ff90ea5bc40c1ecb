"""Rendering of results: rich tables, JSON, CSV and (lazily) plots.

The only package that imports rich or matplotlib.
"""
