"""Viewer rights, retention and the records of processing, derived from the registry."""
