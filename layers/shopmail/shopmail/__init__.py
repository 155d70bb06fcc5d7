"""shopmail: the email backbone of an online shop (the shared Lambda layer)."""

__version__ = "0.1.0"
