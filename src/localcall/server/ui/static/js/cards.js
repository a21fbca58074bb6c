// One card per tool call: its name, its arguments as they stream in, then the result (a
// server-side tool), a box for the result (a client tool), or Approve / Deny (a high-risk
// server tool waiting for a person).
import { h, pretty, prettyText } from "./dom.js";

export class ToolCard {
  // kind: "client" | "server"
  constructor({ kind, id, name, risk }) {
    this.kind = kind;
    this.id = id || "";
    this.arguments = "";
    this.executed = false; // the server has reported how the call ended
    this.status = h("span", { class: "status" });
    this.argsEl = h("pre", { class: "args" });
    this.body = h("div", { class: "card-body" });
    this.timing = h("footer", { class: "timing muted" });
    this.el = h(
      "div",
      { class: "card", "data-kind": kind, "data-call-id": this.id, "data-name": name },
      h(
        "header",
        {},
        h("span", { class: "name" }, name),
        h("span", { class: "badge" }, kind === "client" ? "client tool" : "server tool"),
        risk && risk !== "low" ? h("span", { class: `badge risk-${risk}` }, `${risk} risk`) : null,
        this.status,
      ),
      this.argsEl,
      this.body,
      this.timing,
    );
    this.setStatus("streaming", "arguments streaming…");
  }

  setStatus(state, label) {
    this.el.dataset.status = state;
    this.status.textContent = label;
  }

  appendArguments(fragment) {
    this.arguments += fragment;
    this.argsEl.textContent = this.arguments;
  }

  // The arguments are complete: show them indented and say whether they are valid JSON.
  setArguments(text) {
    this.arguments = text;
    let valid = true;
    try {
      this.argsEl.textContent = pretty(JSON.parse(text));
    } catch {
      valid = false;
      this.argsEl.textContent = text;
    }
    this.el.dataset.argsValid = String(valid);
    return valid;
  }

  // A high-risk call: answer(true|false) is awaited when a button is clicked.
  askApproval(answer) {
    this.setStatus("approval", "waiting for your approval");
    const decide = async (approved) => {
      buttons.querySelectorAll("button").forEach((b) => (b.disabled = true));
      let label;
      try {
        await answer(approved);
        label = approved ? ["approved", "approved, running…"] : ["denied", "denied"];
      } catch (error) {
        label = ["approval-gone", error.message];
      }
      buttons.remove();
      // The stream may have reported the outcome while the answer was on its way.
      if (!this.executed) this.setStatus(...label);
    };
    const buttons = h(
      "div",
      { class: "approval" },
      h("button", { type: "button", class: "approve", onclick: () => decide(true) }, "Approve"),
      h("button", { type: "button", class: "deny", onclick: () => decide(false) }, "Deny"),
    );
    this.body.append(buttons);
  }

  // What the server ran: executed is one entry of localcall.executed_tool_calls.
  showExecuted(executed) {
    this.executed = true;
    this.setArguments(executed.arguments);
    this.setStatus(executed.status, executed.status);
    this.body.querySelector(".approval")?.remove();
    this.body.append(
      h("div", { class: "result" }, h("div", { class: "label" }, executed.error ? "error" : "result"),
        h("pre", {}, executed.error || prettyText(executed.content))),
    );
  }

  // A client tool: the person types the result; returns the textarea.
  resultInput() {
    this.setStatus("needs-result", "waiting for your result");
    const input = h("textarea", { class: "result-input", rows: 3, placeholder: "The tool's result (text or JSON)" });
    this.body.append(h("label", { class: "label" }, "result", input));
    return input;
  }

  // From the audit rows of this call: attempts (retries) and time spent.
  showAudit(rows) {
    const runs = rows.filter((r) => Number(r.attempt) > 0);
    const ms = runs.reduce((sum, r) => sum + Number(r.duration_ms || 0), 0);
    const attempts = runs.length ? Math.max(...runs.map((r) => Number(r.attempt))) : 0;
    const parts = [attempts === 0 ? "did not run" : attempts === 1 ? "1 attempt" : `${attempts} attempts (${attempts - 1} retries)`];
    if (runs.length) parts.push(`${ms.toFixed(1)} ms`);
    parts.push(`${rows.length} audit row${rows.length === 1 ? "" : "s"}`);
    this.timing.textContent = parts.join(" · ");
  }
}
