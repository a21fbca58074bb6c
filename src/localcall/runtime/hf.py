"""The transformers backend: AutoModelForCausalLM + AutoTokenizer, on the CPU or a GPU.

Loads an HF directory, or a GGUF file through transformers' own GGUF loader (dequantized).
Keeps past_key_values between calls so a multi-turn prompt only evaluates its new suffix,
like the llama.cpp backend.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache

from .backend import (PREFILL_CHUNK, EvalStats, SpecialTokens, check_fits, prompt_chunks, reusable_prefix,
                      thread_count)


class TransformersBackend:
    name = "transformers"

    def __init__(self, model_path: str | Path, *, n_ctx: int | None = None, threads: int | None = None,
                 gpu_layers: int = 0, n_batch: int = 512):
        path = Path(model_path)
        self.model_path = str(path)
        kwargs = {}
        if path.is_file():  # a GGUF file: transformers dequantizes it
            kwargs["gguf_file"] = path.name
            path = path.parent
        torch.set_num_threads(thread_count(threads))  # the same policy as llama.cpp's threads
        self.device = "cuda" if gpu_layers != 0 and torch.cuda.is_available() else "cpu"
        dtype = torch.float32 if self.device == "cpu" else torch.float16
        self.tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, **kwargs).to(self.device).eval()
        self.n_vocab = int(self.model.get_output_embeddings().weight.shape[0])
        trained = getattr(self.model.config, "max_position_embeddings", None) or 4096
        self.n_ctx = min(n_ctx or trained, trained)
        self.n_batch = n_batch
        self.prefill_chunk = min(PREFILL_CHUNK, n_batch)
        self.chat_template = self.tokenizer.chat_template if isinstance(self.tokenizer.chat_template, str) else None
        self._pieces = _token_pieces(self.tokenizer, self.n_vocab)
        self.special = self._special_tokens()
        self.adds_bos = bool(getattr(self.tokenizer, "add_bos_token", False)) and self.special.bos_id is not None
        self._tokens: list[int] = []
        self._cache: DynamicCache | None = None
        self.stats = EvalStats()

    def tokenize(self, text: str, *, add_bos: bool = False, special: bool = True) -> list[int]:
        ids = self.tokenizer(text, add_special_tokens=False, split_special_tokens=not special)["input_ids"]
        bos = self.special.bos_id
        return ([bos] if add_bos and bos is not None else []) + list(ids)

    def token_bytes(self, token: int) -> bytes:
        return self._pieces[token]

    def _special_tokens(self) -> SpecialTokens:
        tok = self.tokenizer
        by_text = {t.content: i for i, t in tok.added_tokens_decoder.items()}
        eos = tok.eos_token_id
        end_of_turn = {eos} if eos is not None else set()
        generation_eos = getattr(self.model.generation_config, "eos_token_id", None)
        if isinstance(generation_eos, int):
            end_of_turn.add(generation_eos)
        elif generation_eos:
            end_of_turn.update(generation_eos)
        for text in ("<|im_end|>", "<|eot_id|>", "<|eom_id|>", "<end_of_turn>", "<|endoftext|>"):
            if text in by_text:
                end_of_turn.add(by_text[text])
        control = frozenset(i for i, t in tok.added_tokens_decoder.items() if t.special)
        return SpecialTokens(bos_id=tok.bos_token_id, eos_id=eos, bos=tok.bos_token or "", eos=tok.eos_token or "",
                             end_of_turn_ids=frozenset(end_of_turn), by_text=by_text, control_ids=control)

    @torch.inference_mode()
    def prefill(self, tokens: list[int], cancel: threading.Event | None = None) -> np.ndarray:
        common = reusable_prefix(self._tokens, tokens)
        if self._cache is not None and common > 0:
            if common < len(self._tokens):
                self._cache.crop(common - len(self._tokens))  # a negative count: drop that many
        else:
            self._cache, common = DynamicCache(), 0
        del self._tokens[common:]
        self.stats = EvalStats(prompt_tokens=len(tokens), reused_tokens=common)
        check_fits(len(self._tokens), len(tokens) - common, self.n_ctx)
        logits = None
        # Small chunks, so a cancelled prefill stops soon; what was evaluated stays cached.
        for chunk in prompt_chunks(tokens[common:], self.prefill_chunk, cancel):
            logits = self._forward(chunk)
            self.stats.evaluated_tokens += len(chunk)
        return logits

    def reset(self) -> None:
        """Forget the KV cache (the next prefill evaluates everything)."""
        self._cache = None
        self._tokens.clear()

    @torch.inference_mode()
    def append(self, tokens: list[int]) -> np.ndarray:
        check_fits(len(self._tokens), len(tokens), self.n_ctx)
        if self._cache is None:
            self._cache = DynamicCache()
        logits = None
        for chunk in prompt_chunks(tokens, self.n_batch, None):
            logits = self._forward(chunk)
        return logits

    def _forward(self, chunk: list[int]) -> np.ndarray:
        """Evaluate one chunk after the cached tokens; the next-token logits after it."""
        ids = torch.tensor([chunk], device=self.device)
        out = self.model(input_ids=ids, past_key_values=self._cache, use_cache=True, logits_to_keep=1)
        self._cache = out.past_key_values
        self._tokens.extend(chunk)
        return out.logits[0, -1].float().cpu().numpy()[: self.n_vocab]

    def metadata(self) -> dict[str, str]:
        params = sum(p.numel() for p in self.model.parameters())
        return {
            "architecture": getattr(self.model.config, "model_type", "?"),
            "description": f"{type(self.model).__name__} ({self.device}, {next(self.model.parameters()).dtype})",
            "parameters": str(params),
            "size_bytes": str(sum(p.numel() * p.element_size() for p in self.model.parameters())),
            "n_vocab": str(self.n_vocab),
            "n_ctx": str(self.n_ctx),
            "threads": str(torch.get_num_threads()),
        }

    def close(self) -> None:
        self.reset()


def _token_pieces(tokenizer, n_vocab: int) -> list[bytes]:
    """The bytes of every token. llguidance's tokenizer import already knows how each HF
    tokenizer family (byte-level BPE, SentencePiece with byte fallback...) maps ids to bytes."""
    import llguidance.hf

    ll = llguidance.hf.from_tokenizer(tokenizer, n_vocab=n_vocab)
    pieces = []
    for t in range(n_vocab):
        piece = ll.decode_bytes([t])
        pieces.append(piece[1:] if piece.startswith(b"\xff") else piece)  # llguidance marks specials with 0xff
    return pieces
