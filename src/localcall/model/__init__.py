"""The chat model: formats, grammars and a runtime backend composed into one request flow
(model/chat.py). Above formats, grammars and runtime; below server, tools, bench and cli."""

from .chat import ChatModel, ConstraintFailed, PreparedRequest, RequestError

__all__ = ["ChatModel", "ConstraintFailed", "PreparedRequest", "RequestError"]
