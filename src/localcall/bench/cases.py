"""What a benchmark case is, and the record of running one.

Every suite, BFCL's or ours, loads into Case; every run writes one CaseResult per case as a
JSON line. Functions stay in BFCL's own shape (its type names, dotted names) because the
checker's type rules are written against them; bfcl.tool_set turns them into what a model is
offered.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Expected:
    """What a passing answer does.

    calls: BFCL's ground truth, [{function_name: {param: [allowed values]}}], one entry per
    call (order-free); `""` among the allowed values means the parameter may be left out.
    An empty tuple means no call is wanted (BFCL's irrelevance).
    """

    calls: tuple[dict, ...] = ()
    any_call: bool = False  # BFCL's live_relevance: any call passes, arguments unjudged
    no_call_ok: bool = False  # error recovery: answering the user instead also passes


@dataclass(frozen=True)
class Case:
    id: str
    suite: str  # "bfcl" | "localcall" | a suite file's stem
    category: str  # what the report groups by
    messages: list[dict]  # OpenAI-shaped chat messages, history included
    functions: list[dict]  # {"name", "description", "parameters"}, BFCL-style
    expected: Expected
    tags: tuple[str, ...] = ()


def model_label(model: str, constrained: bool) -> str:
    """How tables and progress bars name a model run: the ablation is a model of its own."""
    return model if constrained else f"{model} (unconstrained)"


@dataclass
class CaseResult:
    """One line of a results file."""

    suite: str
    category: str
    id: str
    model: str
    constrained: bool
    passed: bool
    error_type: str | None  # "selection:…" | "args:…" | "target:exception"; None when passed
    message: str
    messages: list[dict]  # the prompt
    tools: list[str]  # the names offered, as the model saw them
    content: str | None
    calls: list[dict]  # [{"name", "arguments"}] as the model wrote them (arguments: JSON text)
    malformed: list[str]  # calls that never completed (generation stopped inside one)
    finish_reason: str | None
    valid_calls: int  # calls whose arguments parse and validate against the offered schema
    call_attempts: int  # calls + malformed
    leaked: bool  # tool-call-looking text in content
    latency_s: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model_info: str = ""  # size, quantization, where it ran
    tags: list[str] = field(default_factory=list)
    # Best answer logit minus best call logit where the turn chose (bench.decision); None when
    # not measured, or the turn had no such choice.
    decision_margin: float | None = None

    @property
    def label(self) -> str:
        return model_label(self.model, self.constrained)

    @property
    def key(self) -> tuple[str, str]:
        return (self.suite, self.id)

    @property
    def error_kind(self) -> str | None:
        return self.error_type.split(":", 1)[0] if self.error_type else None
