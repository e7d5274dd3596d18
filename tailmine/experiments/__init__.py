"""Experiments that exercise the product's own stages end to end (issue 9, longtail-methods.md §5.2)."""
