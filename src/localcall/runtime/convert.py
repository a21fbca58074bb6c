"""Make an HF directory (safetensors + tokenizer + chat template) from a GGUF file.

This is how `smollm2-135m-hf` exists: the default model's own weights, dequantized, so the
transformers backend is exercised on a real model without a hub. `localcall convert NAME`
runs it; loading a `convert` source runs it once on first use.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def gguf_to_hf_dir(gguf: Path, target: Path, *, progress: bool = True) -> Path:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    def work():
        # One partial directory per process: two processes may convert the same model at once.
        partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        # A GGUF-loaded model carries a gguf "quantization" config that save_pretrained refuses;
        # its weights are already dequantized, so the plain model is what we save.
        model.config.quantization_config = None
        if hasattr(model.config, "__dict__"):
            model.config.__dict__.pop("quantization_config", None)
        model.hf_quantizer = None
        model.save_pretrained(partial, safe_serialization=True)
        tokenizer.save_pretrained(partial)
        if (target / "config.json").exists():  # another process finished first: keep its copy
            shutil.rmtree(partial, ignore_errors=True)
            return
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(partial, target)  # a half-written directory never carries the final name

    if progress:
        from rich.console import Console

        with Console(stderr=True).status(f"converting {gguf.name} into an HF directory at {target} (once)"):
            work()
    else:
        work()
    return target
