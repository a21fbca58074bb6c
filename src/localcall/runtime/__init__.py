"""Model registry, backends and the token-level generation loop."""

import os

# OpenMP thread pools (llama.cpp's, torch's) sleep at their barriers instead of spinning: on
# cores shared with anything else a spinning pool collapses, 2 threads on 2 cores decoding ~20x
# slower than 1 (docs/runtime.md, benchmarks/threads.py). libgomp reads this once, when it is
# loaded, so it is set here, before any backend is imported; set OMP_WAIT_POLICY to choose.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
