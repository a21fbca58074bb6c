// The Audit log tab: rows of the server's audit database, newest first, filtered.
import { api } from "./api.js";
import { byId, h } from "./dom.js";

const FILTERS = { principal: "audit-principal", tool: "audit-tool", outcome: "audit-outcome" };
const LONG = 160; // characters of a cell shown before it is cut (the whole text is in its title)

function fillSelect(select, values) {
  const previous = select.value;
  select.replaceChildren(h("option", { value: "" }, "any"), ...values.map((v) => h("option", { value: v }, v)));
  if (values.includes(previous)) select.value = previous;
}

function cell(column, value) {
  const text = value === null || value === undefined ? ""
    : column.endsWith("_ms") && typeof value === "number" ? value.toFixed(1) : String(value);
  return h("td", text.length > LONG ? { title: text } : {}, text.length > LONG ? `${text.slice(0, LONG)}…` : text);
}

let latest = 0; // the newest load: an older answer arriving later is dropped

export async function loadAudit() {
  const mine = ++latest;
  const note = byId("audit-note");
  const params = new URLSearchParams();
  for (const [name, id] of Object.entries(FILTERS)) if (byId(id).value) params.set(name, byId(id).value);
  if (byId("audit-call").value.trim()) params.set("call_id", byId("audit-call").value.trim());
  let data;
  try {
    data = await api(`/ui/api/audit?${params}`);
  } catch (error) {
    if (mine !== latest) return;
    note.textContent = error.message;
    byId("audit-table").replaceChildren();
    return;
  }
  if (mine !== latest) return;
  for (const [name, id] of Object.entries(FILTERS)) fillSelect(byId(id), data.facets[name] || []);
  note.textContent = `${data.rows.length} row${data.rows.length === 1 ? "" : "s"}, newest first · ${data.path}`;
  byId("audit-table").replaceChildren(
    h("thead", {}, h("tr", {}, ...data.columns.map((c) => h("th", {}, c)))),
    h("tbody", {}, ...data.rows.map((row) =>
      h("tr", { "data-call-id": row.call_id, "data-outcome": row.outcome }, ...data.columns.map((c) => cell(c, row[c]))))),
  );
}

export function initAudit() {
  byId("audit-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    loadAudit();
  });
  for (const id of Object.values(FILTERS)) byId(id).addEventListener("change", loadAudit);
}
