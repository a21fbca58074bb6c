// The Tools tab: each server-side tool with its schema, risk and how its calls are approved.
import { byId, h, pretty } from "./dom.js";

const APPROVAL = {
  allowed: "high risk: runs without asking (a policy allows it for your key)",
  ask: "high risk: each call waits for your Approve / Deny",
  denied: "high risk: refused (no policy allows it, and this server asks no one: --ask-approval)",
};

export function renderTools(tools) {
  const root = byId("tool-cards");
  if (!tools.length) {
    root.replaceChildren(h("p", { class: "muted" }, "None: this server runs no tools of its own for your key."));
    return;
  }
  root.replaceChildren(
    ...tools.map((t) =>
      h(
        "div",
        { class: "card tool", "data-name": t.name },
        h("header", {}, h("span", { class: "name" }, t.name), h("span", { class: `badge risk-${t.risk}` }, `${t.risk} risk`)),
        h("p", {}, t.description || h("span", { class: "muted" }, "no description")),
        t.approval ? h("p", { class: "approval-mode" }, APPROVAL[t.approval]) : null,
        h("p", { class: "muted" }, `timeout ${t.timeout === null ? "none" : `${t.timeout} s`} · up to ${t.attempts} attempts`),
        h("pre", { class: "schema" }, pretty(t.parameters)),
      ),
    ),
  );
}
