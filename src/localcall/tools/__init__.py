"""Tools and the execute/feed-back loop.

Define tools with @tool (or Tool.from_json_schema), hold them in a ToolRegistry (or load
them with load_tools), and run them with an Agent: permission scoping (Policy), argument
validation, human approval (an Approver), execution with timeouts, retries and fallbacks,
and an SQLite audit log (AuditLog), every failure returned to the model as a structured
tool result.
"""

from .agent import (Agent, AgentEvent, CallFinished, CallStarted, ChatModelLike, ModelDelta, ModelReplied,
                    RepeatSkipped, RunFinished, RunResult, StepStarted)
from .approval import ApprovalRequest, Approver
from .audit import AuditEntry, AuditLog, default_audit_path
from .definition import NO_RETRY, RetryPolicy, Tool, tool
from .outcome import ToolError, ToolOutcome, ToolTimeout, TransientError
from .pipeline import ToolExecutor
from .policy import Policy
from .registry import DuplicateToolError, ToolLoadError, ToolRegistry, load_tools

__all__ = [
    "Agent", "AgentEvent", "ApprovalRequest", "Approver", "AuditEntry", "AuditLog", "CallFinished",
    "CallStarted", "ChatModelLike", "DuplicateToolError", "ModelDelta", "ModelReplied", "NO_RETRY", "Policy",
    "RepeatSkipped", "RetryPolicy", "RunFinished", "RunResult", "StepStarted", "Tool", "ToolError",
    "ToolExecutor", "ToolLoadError", "ToolOutcome", "ToolRegistry", "ToolTimeout", "TransientError",
    "default_audit_path", "load_tools", "tool",
]
