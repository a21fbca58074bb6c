// One assistant turn as it streams in: folded reasoning, a card per tool call, the content.
import { ToolCard } from "./cards.js";
import { h } from "./dom.js";

export class Turn {
  constructor(transcript, serverTools) {
    this.serverTools = serverTools;
    this.content = "";
    this.reasoning = "";
    this.clientCards = new Map(); // index → card
    this.serverCards = new Map(); // call id → card
    this.executed = new Map(); // call id → what the server ran (localcall.executed_tool_calls)
    this.incomplete = new Set(); // ids of calls cut short by max_tokens
    this.repeatsDropped = 0;
    this.finishReason = null;
    this.usage = null;
    this.reasoningText = h("pre");
    this.reasoningEl = h("details", { class: "reasoning", hidden: true }, h("summary", {}, "Reasoning"), this.reasoningText);
    this.calls = h("div", { class: "calls" });
    this.contentEl = h("div", { class: "content", "data-deltas": "0" });
    this.meta = h("footer", { class: "meta muted" }, "generating…");
    this.el = h("article", { class: "turn assistant" }, this.reasoningEl, this.calls, this.contentEl, this.meta);
    transcript.append(this.el);
  }

  apply(chunk) {
    for (const choice of chunk.choices || []) {
      const delta = choice.delta || {};
      if (delta.reasoning_content) {
        this.reasoning += delta.reasoning_content;
        this.reasoningText.textContent = this.reasoning;
        this.reasoningEl.hidden = false;
      }
      if (delta.content) {
        this.content += delta.content;
        this.contentEl.textContent = this.content;
        this.contentEl.dataset.deltas = String(Number(this.contentEl.dataset.deltas) + 1);
      }
      for (const call of delta.tool_calls || []) this.callDelta(call);
      if (choice.finish_reason) this.finishReason = choice.finish_reason;
    }
    // The final chunk lists every call the server ran; shown as soon as a chunk names one.
    for (const executed of chunk.localcall?.executed_tool_calls || []) {
      if (this.executed.has(executed.id)) continue;
      this.executed.set(executed.id, executed);
      this.serverCard(executed.id, executed.name).showExecuted(executed);
    }
    for (const id of chunk.localcall?.incomplete_tool_calls || []) this.incomplete.add(id);
    this.repeatsDropped += chunk.localcall?.repeated_tool_calls_dropped || 0;
    if (chunk.usage) this.usage = chunk.usage;
  }

  callDelta(delta) {
    let card = this.clientCards.get(delta.index);
    if (!card) {
      card = new ToolCard({ kind: "client", id: delta.id, name: delta.function?.name || "?" });
      this.clientCards.set(delta.index, card);
      this.calls.append(card.el);
    }
    if (delta.function?.arguments) card.appendArguments(delta.function.arguments);
  }

  serverCard(id, name) {
    let card = this.serverCards.get(id);
    if (!card) {
      card = new ToolCard({ kind: "server", id, name, risk: this.serverTools.get(name)?.risk });
      this.serverCards.set(id, card);
      this.calls.append(card.el);
    }
    return card;
  }

  finish(seconds) {
    for (const card of this.clientCards.values()) {
      card.setArguments(card.arguments);
      if (this.incomplete.has(card.id)) card.setStatus("incomplete", "cut short at max_tokens");
      else card.setStatus("called", "called");
    }
    const parts = [`finish_reason: ${this.finishReason}`, `${seconds.toFixed(1)} s`];
    if (this.usage) parts.push(`${this.usage.prompt_tokens} prompt + ${this.usage.completion_tokens} completion tokens`);
    if (this.repeatsDropped) parts.push(`${this.repeatsDropped} repeated call(s) dropped`);
    this.meta.textContent = parts.join(" · ");
    this.el.dataset.finish = this.finishReason || "";
  }

  fail(error) {
    this.el.append(h("p", { class: "error" }, error.name === "AbortError" ? "stopped" : error.message));
    this.meta.textContent = "";
    this.el.dataset.finish = "error";
  }

  // The assistant message for the transcript, as the API wants it back (without cut calls).
  complete() {
    return [...this.clientCards.values()].filter((card) => !this.incomplete.has(card.id));
  }

  message() {
    const calls = this.complete().map((card) => ({
      id: card.id, type: "function", function: { name: card.el.dataset.name, arguments: card.arguments },
    }));
    if (!this.content && !calls.length) return null;
    return calls.length ? { role: "assistant", content: this.content || null, tool_calls: calls }
      : { role: "assistant", content: this.content };
  }
}
