"""The llama.cpp backend, on llama.h through llama-cpp-python's ctypes bindings.

We use the C API rather than `llama_cpp.Llama` because the loop needs the raw next-token
logits after every decode (Llama.eval keeps them only with logits_all), control over the
KV cache for prefix reuse, and the model-load parameter below.

The crash: llama.cpp built from source on CPUs that report AMX/AVX-512 segfaults inside
decode on any multi-token batch when weights are repacked into the "extra buffer types"
(llama-server needs --no-repack there). We always load with use_extra_bufts=False: a build
flag would only fix wheels we build, not the one pip compiles on a user's machine.
benchmarks/speed.py measures what this costs on the machine at hand.
"""

from __future__ import annotations

import ctypes
import os
import threading
from pathlib import Path

import llama_cpp as L
import numpy as np

from .backend import (PREFILL_CHUNK, CacheFull, EvalStats, SpecialTokens, check_fits, prompt_chunks, reusable_prefix,
                      thread_count)

_backend_ready = False


def _init_backend() -> None:
    global _backend_ready
    if not _backend_ready:
        L.llama_backend_init()
        if not os.environ.get("LOCALCALL_LLAMA_LOG"):
            # llama.cpp logs every load to stderr; keep the CLI's output readable.
            L.llama_log_set(_silent_log, ctypes.c_void_p(0))
        _backend_ready = True


@L.llama_log_callback
def _silent_log(level, text, user_data):  # pragma: no cover - called from C
    return None


class LlamaCppBackend:
    name = "llama.cpp"

    def __init__(self, model_path: str | Path, *, n_ctx: int | None = None, threads: int | None = None,
                 gpu_layers: int = 0, n_batch: int = 512, vocab_only: bool = False,
                 extra_buffer_types: bool = False, flash_attn: bool | None = None, slots: int = 1,
                 cache_tokens: int | None = None):
        """vocab_only: load the vocabulary and metadata but no weights (for `localcall models`).
        extra_buffer_types: llama.cpp's own default, which crashes on some CPUs (see above);
        only benchmarks/speed.py turns it on, in a subprocess, to measure what leaving it off costs.
        flash_attn: None leaves llama.cpp's choice (auto); benchmarks/prefill.py compares both.
        slots: sequences the context holds at once (runtime/batch.py decodes them together), in
        one unified KV cache that they share, as llama-server's slots do: each may grow to n_ctx
        tokens while the others leave room. cache_tokens: the cells of that cache, by default
        n_ctx (the memory of one sequence, not of `slots`); more lets several long sequences
        run at once. With more than one slot, only decode_sequences evaluates: prefill and
        append work on sequence 0."""
        _init_backend()
        self.model_path = str(model_path)
        mparams = L.llama_model_default_params()
        mparams.use_extra_bufts = extra_buffer_types  # off: see the module docstring
        mparams.n_gpu_layers = gpu_layers
        mparams.vocab_only = vocab_only
        self._model = L.llama_model_load_from_file(self.model_path.encode(), mparams)
        if not self._model:
            raise RuntimeError(f"llama.cpp could not load {self.model_path} (not a GGUF file, or an unsupported architecture)")
        self._vocab = L.llama_model_get_vocab(self._model)
        self.n_vocab = L.llama_vocab_n_tokens(self._vocab)
        trained = L.llama_model_n_ctx_train(self._model)
        self._ctx = None
        self.stats = EvalStats()
        self._pieces: dict[int, bytes] = {}
        self.special = self._special_tokens()
        self.adds_bos = bool(L.llama_vocab_get_add_bos(self._vocab))
        raw = L.llama_model_chat_template(self._model, None)
        self.chat_template = raw.decode("utf-8") if raw else None
        self.n_ctx = trained
        self.threads = 0
        self.slots = slots
        if vocab_only:
            return
        cparams = L.llama_context_default_params()
        context = min(n_ctx or trained, trained) if trained > 0 else (n_ctx or 4096)
        cparams.n_ctx = max(cache_tokens or context, context) if slots > 1 else context
        cparams.n_batch = cparams.n_ubatch = n_batch
        cparams.n_seq_max = slots
        # One cache for all sequences: each may take cells anywhere, up to n_ctx; when together
        # they fill it, decode_sequences raises CacheFull and runtime/batch.py makes room.
        cparams.kv_unified = slots > 1
        if flash_attn is not None:
            cparams.flash_attn_type = L.LLAMA_FLASH_ATTN_TYPE_ENABLED if flash_attn else L.LLAMA_FLASH_ATTN_TYPE_DISABLED
        n_threads = thread_count(threads)
        cparams.n_threads = cparams.n_threads_batch = n_threads
        self._ctx = L.llama_init_from_model(self._model, cparams)
        if not self._ctx:
            L.llama_model_free(self._model)
            raise RuntimeError(f"llama.cpp could not create a context of {cparams.n_ctx} tokens for {self.model_path}")
        self.cache_tokens = L.llama_n_ctx(self._ctx)
        self.n_ctx = min(context, self.cache_tokens)  # what one sequence may hold
        self.n_batch = n_batch
        self.prefill_chunk = min(PREFILL_CHUNK, n_batch)
        self.threads = n_threads
        self._memory = L.llama_get_memory(self._ctx)
        self._tokens: list[int] = []  # what the KV cache holds, in order
        self._batch = L.llama_batch_init(n_batch, 0, 1) if slots > 1 else None

    # --- vocabulary ------------------------------------------------------------------------

    def tokenize(self, text: str, *, add_bos: bool = False, special: bool = True) -> list[int]:
        data = text.encode("utf-8")
        size = len(data) + 8
        buf = (L.llama_token * size)()
        n = L.llama_tokenize(self._vocab, data, len(data), buf, size, add_bos, special)
        if n < 0:  # the buffer was too small; n is minus the size needed
            size = -n
            buf = (L.llama_token * size)()
            n = L.llama_tokenize(self._vocab, data, len(data), buf, size, add_bos, special)
        return list(buf[:n])

    def token_bytes(self, token: int) -> bytes:
        piece = self._pieces.get(token)
        if piece is None:
            buf = ctypes.create_string_buffer(64)
            n = L.llama_token_to_piece(self._vocab, token, buf, 64, 0, True)
            if n < 0:
                buf = ctypes.create_string_buffer(-n)
                n = L.llama_token_to_piece(self._vocab, token, buf, -n, 0, True)
            piece = self._pieces[token] = buf.raw[:n]
        return piece

    def token_text(self, token: int) -> str:
        """The vocabulary entry itself (what engines need to build their tokenizer)."""
        return L.llama_vocab_get_text(self._vocab, token).decode("utf-8", errors="replace")

    def _special_tokens(self) -> SpecialTokens:
        def tok(value: int) -> int | None:
            return value if value >= 0 else None

        bos, eos = tok(L.llama_vocab_bos(self._vocab)), tok(L.llama_vocab_eos(self._vocab))
        by_text: dict[str, int] = {}
        end_of_turn: set[int] = set()
        control: set[int] = set()
        for t in range(self.n_vocab):
            attr = L.llama_vocab_get_attr(self._vocab, t)
            if attr & (L.LLAMA_TOKEN_ATTR_CONTROL | L.LLAMA_TOKEN_ATTR_USER_DEFINED):
                by_text[self.token_bytes(t).decode("utf-8", errors="replace")] = t
            if attr & L.LLAMA_TOKEN_ATTR_CONTROL:
                control.add(t)
            if L.llama_vocab_is_eog(self._vocab, t):
                end_of_turn.add(t)
        return SpecialTokens(
            bos_id=bos, eos_id=eos,
            bos=self.token_bytes(bos).decode("utf-8", "replace") if bos is not None else "",
            eos=self.token_bytes(eos).decode("utf-8", "replace") if eos is not None else "",
            end_of_turn_ids=frozenset(end_of_turn), by_text=by_text, control_ids=frozenset(control),
        )

    # --- evaluation ------------------------------------------------------------------------

    def prefill(self, tokens: list[int], cancel: threading.Event | None = None) -> np.ndarray:
        common = reusable_prefix(self._tokens, tokens)
        if not L.llama_memory_seq_rm(self._memory, -1, common, -1):
            L.llama_memory_clear(self._memory, True)  # recurrent caches cannot drop a suffix
            common = 0
        del self._tokens[common:]
        self.stats = EvalStats(prompt_tokens=len(tokens), reused_tokens=common)
        check_fits(len(self._tokens), len(tokens) - common, self.n_ctx)
        # Small chunks, so a cancelled prefill stops soon; what was evaluated stays cached.
        for chunk in prompt_chunks(tokens[common:], self.prefill_chunk, cancel):
            self._decode(chunk)
            self.stats.evaluated_tokens += len(chunk)
        return self._last_logits()

    def reset(self) -> None:
        """Forget the KV cache (the next prefill evaluates everything)."""
        L.llama_memory_clear(self._memory, True)
        self._tokens.clear()

    def append(self, tokens: list[int]) -> np.ndarray:
        check_fits(len(self._tokens), len(tokens), self.n_ctx)
        for chunk in prompt_chunks(tokens, self.n_batch, None):
            self._decode(chunk)
        return self._last_logits()

    def _decode(self, chunk: list[int]) -> None:
        arr = (L.llama_token * len(chunk))(*chunk)
        rc = L.llama_decode(self._ctx, L.llama_batch_get_one(arr, len(chunk)))
        if rc != 0:
            self.reset()  # the cache may hold part of the chunk: the next prefill starts clean
            raise RuntimeError(f"llama_decode failed with code {rc}")
        self._tokens.extend(chunk)

    def _last_logits(self) -> np.ndarray:
        # A view into llama.cpp's buffer, valid until the next decode; the hook masks it in place.
        return np.ctypeslib.as_array(L.llama_get_logits_ith(self._ctx, -1), shape=(self.n_vocab,))

    # --- embeddings ------------------------------------------------------------------------

    # Tokens one embedding input may have: all of them go through one batch (pooling needs that).
    embedding_ctx = 2048
    _embed_ctx = None  # created on first use
    # One embedding at a time in the process: they are short, and each uses every thread it has.
    _embed_lock = threading.Lock()

    def embed(self, tokens: list[int]) -> np.ndarray:
        """The input's embedding, L2-normalised: the model's own pooling when its GGUF declares
        one (embedding models), mean pooling over the last hidden states otherwise. Runs in a
        context of its own, so it never disturbs the generation context's KV cache."""
        if not tokens:
            raise ValueError("cannot embed an empty input")
        with self._embed_lock:
            ctx = self._embedding_context()
            if len(tokens) > self.embedding_ctx:
                raise ValueError(f"the input has {len(tokens)} tokens; an embedding input may have "
                                 f"{self.embedding_ctx}")
            L.llama_memory_clear(L.llama_get_memory(ctx), True)
            arr = (L.llama_token * len(tokens))(*tokens)
            rc = L.llama_decode(ctx, L.llama_batch_get_one(arr, len(tokens)))
            if rc != 0:
                raise RuntimeError(f"llama_decode failed with code {rc} while embedding")
            n_embd = L.llama_model_n_embd(self._model)
            vector = np.ctypeslib.as_array(L.llama_get_embeddings_seq(ctx, 0), shape=(n_embd,)).astype(np.float32)
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm > 0 else vector

    def _embedding_context(self):
        if self._embed_ctx is None:
            arch = self._meta("general.architecture")
            declared = arch is not None and self._meta(f"{arch}.pooling_type") is not None
            cparams = L.llama_context_default_params()
            trained = L.llama_model_n_ctx_train(self._model)
            self.embedding_ctx = min(self.embedding_ctx, trained) if trained > 0 else self.embedding_ctx
            cparams.n_ctx = cparams.n_batch = cparams.n_ubatch = self.embedding_ctx
            cparams.n_seq_max = 1
            cparams.n_threads = cparams.n_threads_batch = self.threads or 1
            cparams.embeddings = True
            cparams.pooling_type = L.LLAMA_POOLING_TYPE_UNSPECIFIED if declared else L.LLAMA_POOLING_TYPE_MEAN
            ctx = L.llama_init_from_model(self._model, cparams)
            if not ctx:
                raise RuntimeError(f"llama.cpp could not create an embedding context for {self.model_path}")
            self._embed_ctx = ctx
        return self._embed_ctx

    def _meta(self, key: str) -> str | None:
        buf = ctypes.create_string_buffer(256)
        n = L.llama_model_meta_val_str(self._model, key.encode(), buf, 256)
        return buf.value.decode("utf-8", "replace") if n >= 0 else None

    # --- several sequences (runtime/batch.py) ----------------------------------------------

    def keep_prefix(self, seq: int, n: int) -> None:
        """Drop every cached token of sequence `seq` from position n on."""
        if not L.llama_memory_seq_rm(self._memory, seq, n, -1):
            raise RuntimeError(f"llama.cpp cannot trim sequence {seq} (a recurrent model?)")

    def share_prefix(self, src: int, dst: int, n: int) -> None:
        """Sequence `dst` (emptied first) takes the first n cached tokens of `src`: the unified
        cache lets both sequences use the same cells, so nothing is evaluated or copied."""
        self.keep_prefix(dst, 0)
        L.llama_memory_seq_cp(self._memory, src, dst, 0, n)

    def save_sequence(self, seq: int) -> tuple[object, int]:
        """A copy of sequence `seq`'s cells (runtime/prompt_cache.py) and its size in bytes."""
        size = L.llama_state_seq_get_size(self._ctx, seq)
        state = (ctypes.c_uint8 * size)()
        return state, L.llama_state_seq_get_data(self._ctx, state, size, seq)

    def restore_sequence(self, seq: int, state, size: int) -> bool:
        """Sequence `seq` (emptied first) holds a saved copy again; False when the cache has
        no room for it (then `seq` is left empty)."""
        self.keep_prefix(seq, 0)
        if L.llama_state_seq_set_data(self._ctx, state, size, seq) > 0:
            return True
        self.keep_prefix(seq, 0)
        return False

    def decode_sequences(self, parts: list[tuple[int, list[int], int, bool]]) -> list[np.ndarray | None]:
        """One llama_decode over parts (sequence id, tokens, position of the first, logits wanted),
        together at most n_batch tokens. Returns per part the next-token logits after its last
        token (a view into llama.cpp's buffer, valid until the next decode), or None where none
        were wanted. On failure nothing of the batch stays cached;
        CacheFull when the shared cache has no cells left for the batch."""
        batch, i, outputs = self._batch, 0, []
        for seq, tokens, pos, wanted in parts:
            for k, token in enumerate(tokens):
                batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, pos + k, 1
                batch.seq_id[i][0] = seq
                batch.logits[i] = 0
                i += 1
            if wanted:
                batch.logits[i - 1] = 1
            outputs.append(i - 1 if wanted else None)
        batch.n_tokens = i
        rc = L.llama_decode(self._ctx, batch)
        if rc != 0:
            for seq, _, pos, _ in parts:
                L.llama_memory_seq_rm(self._memory, seq, pos, -1)
            if rc == 1:  # llama.h: no KV slot for the batch (the cache is left as it was)
                raise CacheFull(f"no room in the KV cache of {self.cache_tokens} cells for {i} tokens")
            raise RuntimeError(f"llama_decode failed with code {rc}")
        return [None if at is None else
                np.ctypeslib.as_array(L.llama_get_logits_ith(self._ctx, at), shape=(self.n_vocab,))
                for at in outputs]

    # --- facts -----------------------------------------------------------------------------

    def metadata(self) -> dict[str, str]:
        def meta(key: str) -> str | None:
            buf = ctypes.create_string_buffer(256)
            n = L.llama_model_meta_val_str(self._model, key.encode(), buf, 256)
            return buf.value.decode("utf-8", "replace") if n >= 0 else None

        desc = ctypes.create_string_buffer(256)
        L.llama_model_desc(self._model, desc, 256)
        return {
            "architecture": meta("general.architecture") or "?",
            "description": desc.value.decode("utf-8", "replace"),
            "parameters": str(L.llama_model_n_params(self._model)),
            "size_bytes": str(L.llama_model_size(self._model)),
            "n_vocab": str(self.n_vocab),
            "n_ctx": str(self.n_ctx),
            "threads": str(self.threads),
            "slots": str(self.slots),
        }

    def close(self) -> None:
        if self._embed_ctx:
            L.llama_free(self._embed_ctx)
            self._embed_ctx = None
        if getattr(self, "_batch", None) is not None:
            L.llama_batch_free(self._batch)
            self._batch = None
        if getattr(self, "_ctx", None):  # absent when vocab_only
            L.llama_free(self._ctx)
            self._ctx = None
        if getattr(self, "_model", None):
            L.llama_model_free(self._model)
            self._model = None

    def __del__(self):  # pragma: no cover - interpreter shutdown order varies
        try:
            self.close()
        except Exception:
            pass
