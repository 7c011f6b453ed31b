"""fairview: attention-qualified video advertising, private by construction."""

__version__ = "0.1.0"
