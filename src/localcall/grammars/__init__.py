"""JSON schema → constraint: the engines behind grammar-constrained tool calls."""
