"""localcall: local open-weight models with native, grammar-constrained tool calling."""

__version__ = "0.1.0"
