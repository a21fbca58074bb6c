"""system_fingerprint: which backend configuration produced a response.

OpenAI documents it as changing whenever the serving configuration changes in a way that can
change outputs for the same seed. Here that is localcall's version and the model as loaded
(weights file, backend, chat format, grammar engine, context length), hashed.
"""

from __future__ import annotations

import hashlib
import json

from .. import __version__
from ..model import ChatModel


def system_fingerprint(model: ChatModel) -> str:
    facts = {"version": __version__, "path": model.backend.model_path, **model.describe()}
    facts.pop("threads", None)  # the thread count changes speed, not outputs
    digest = hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()
    return "fp_" + digest[:12]
