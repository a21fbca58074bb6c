"""Model registry, backends and the token-level generation loop."""
