// The chat: settings, the transcript, and one streamed turn at a time.
import { api, streamChat } from "./api.js";
import { byId, h } from "./dom.js";
import { Turn } from "./turn.js";

const APPROVAL_POLL_MS = 400;

// The textarea's tools as OpenAI's `tools`: a list (or one) of {"type": "function",
// "function": {...}} or bare function objects {"name", "description", "parameters"}.
export function parseClientTools(text) {
  if (!text.trim()) return [];
  let value;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`client tools: not valid JSON (${error.message})`);
  }
  const tools = (Array.isArray(value) ? value : [value]).map((item, i) => {
    const fn = item && item.type === "function" ? item.function : item;
    if (!fn || typeof fn.name !== "string" || !fn.name) throw new Error(`client tools[${i}]: a function needs a "name"`);
    if (fn.parameters !== undefined && (typeof fn.parameters !== "object" || fn.parameters === null))
      throw new Error(`client tools[${i}] (${fn.name}): "parameters" must be a JSON schema object`);
    return { type: "function", function: fn };
  });
  const names = tools.map((t) => t.function.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice) throw new Error(`client tools: two tools are named ${twice}`);
  return tools;
}

function numberOrNull(id) {
  const value = byId(id).value.trim();
  return value === "" ? null : Number(value);
}

export class Chat {
  constructor(app) {
    this.app = app;
    this.messages = [];
    this.controller = null;
    this.transcript = byId("transcript");
    byId("composer").addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    byId("prompt").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        this.submit();
      }
    });
    byId("stop").addEventListener("click", () => this.controller?.abort());
    byId("new-chat").addEventListener("click", () => {
      this.messages = [];
      this.transcript.replaceChildren();
    });
    byId("client-tools").addEventListener("input", () => this.refreshToolChoice());
  }

  // The server's tools changed (a new key): list them and offer them in tool_choice.
  setServerTools(tools) {
    this.serverTools = new Map(tools.map((t) => [t.name, t]));
    const list = byId("server-tool-list");
    list.replaceChildren(
      tools.length ? "Server-side tools: " : "No server-side tools for this key.",
      ...tools.map((t) => h("span", { class: `chip risk-${t.risk}`, title: t.description }, t.name)),
    );
    this.refreshToolChoice();
  }

  clientTools() {
    const error = byId("client-tools-error");
    try {
      const tools = parseClientTools(byId("client-tools").value);
      error.hidden = true;
      return tools;
    } catch (e) {
      error.textContent = e.message;
      error.hidden = false;
      return null;
    }
  }

  refreshToolChoice() {
    const select = byId("tool-choice");
    const previous = select.value;
    const names = [...(this.serverTools?.keys() || []), ...(this.clientTools() || []).map((t) => t.function.name)];
    select.replaceChildren(
      ...["auto", "none", "required"].map((v) => h("option", { value: v }, v)),
      ...names.map((n) => h("option", { value: `function:${n}` }, `function: ${n}`)),
    );
    if ([...select.options].some((o) => o.value === previous)) select.value = previous;
  }

  requestBody() {
    const tools = this.clientTools();
    if (tools === null) throw new Error(byId("client-tools-error").textContent);
    const system = byId("system").value.trim();
    const choice = byId("tool-choice").value;
    const body = {
      model: byId("model").value,
      messages: [...(system ? [{ role: "system", content: system }] : []), ...this.messages],
      stream_options: { include_usage: true },
    };
    for (const name of ["temperature", "top_p", "max_tokens", "seed"]) {
      const value = numberOrNull(name);
      if (value !== null) body[name] = value;
    }
    if (tools.length) body.tools = tools;
    if (tools.length || this.serverTools?.size) {
      body.tool_choice = choice.startsWith("function:")
        ? { type: "function", function: { name: choice.slice("function:".length) } } : choice;
      body.parallel_tool_calls = byId("parallel").checked;
    }
    return body;
  }

  submit() {
    const prompt = byId("prompt");
    const text = prompt.value.trim();
    if (!text || this.controller) return;
    prompt.value = "";
    this.messages.push({ role: "user", content: text });
    this.transcript.append(h("article", { class: "turn user" }, text));
    this.runTurn();
  }

  // Keep the newest part of the conversation in view.
  follow() {
    this.transcript.scrollTop = this.transcript.scrollHeight;
  }

  async runTurn() {
    let body;
    try {
      body = this.requestBody();
    } catch (error) {
      this.transcript.append(h("p", { class: "error" }, error.message));
      return;
    }
    const turn = new Turn(this.transcript, this.serverTools || new Map());
    this.controller = new AbortController();
    byId("stop").disabled = false;
    byId("send").disabled = true;
    const approvals = this.app.info.approval ? this.pollApprovals(turn) : null;
    const started = performance.now();
    let ok = false;
    try {
      for await (const chunk of streamChat(body, this.controller.signal)) {
        turn.apply(chunk);
        this.follow();
      }
      turn.finish((performance.now() - started) / 1000);
      ok = true;
    } catch (error) {
      turn.fail(error);
    } finally {
      approvals?.stop();
      this.follow();
      this.controller = null;
      byId("stop").disabled = true;
      byId("send").disabled = false;
    }
    const message = turn.message();
    if (message) this.messages.push(message);
    if (ok && this.app.info.audit) this.showAudit(turn);
    if (ok && turn.finishReason === "tool_calls" && turn.complete().length) this.askResults(turn);
  }

  // While a turn streams, the server's high-risk calls that wait for this key's approval.
  pollApprovals(turn) {
    let stopped = false;
    let timer = null;
    const shown = new Set();
    const tick = async () => {
      try {
        const { pending } = await api("/ui/api/approvals");
        for (const p of pending) {
          if (shown.has(p.id)) continue;
          shown.add(p.id);
          const card = turn.serverCard(p.call_id, p.tool);
          card.setArguments(JSON.stringify(p.arguments));
          card.askApproval((approved) =>
            api(`/ui/api/approvals/${encodeURIComponent(p.id)}`, { method: "POST", body: { approved } }));
          this.follow();
        }
      } catch {
        // the next tick tries again; the turn itself reports real failures
      }
      if (!stopped) timer = setTimeout(tick, APPROVAL_POLL_MS);
    };
    tick();
    return { stop: () => { stopped = true; clearTimeout(timer); } };
  }

  async showAudit(turn) {
    for (const [id, card] of turn.serverCards) {
      try {
        card.showAudit((await api(`/ui/api/audit?call_id=${encodeURIComponent(id)}`)).rows);
      } catch {
        // timing is extra information; the card already shows the result
      }
    }
  }

  // A client tool call: the person writes each result, then the conversation goes on.
  askResults(turn) {
    const inputs = turn.complete().map((card) => [card, card.resultInput()]);
    const button = h("button", { type: "button", class: "send-results" }, "Send results");
    button.addEventListener("click", () => {
      button.remove();
      for (const [card, input] of inputs) {
        input.disabled = true;
        card.setStatus("answered", "answered");
        this.messages.push({ role: "tool", tool_call_id: card.id, content: input.value });
      }
      this.runTurn();
    });
    turn.el.append(button);
    this.follow();
  }
}
