"""Audience: content topics and their sensitivity (profiles and cohorts follow)."""
