"""A hardened real-time gateway for payment QR codes."""

__version__ = "0.1.0"
