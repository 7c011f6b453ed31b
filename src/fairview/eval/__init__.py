"""Evaluations that measure a property end to end on simulated data (issue 5: leakage)."""
