// The playground's start: the API key, the tabs, and what the server offers this key.
import { loadAudit, initAudit } from "./audit.js";
import { api, auth } from "./api.js";
import { loadBench } from "./bench.js";
import { Chat } from "./chat.js";
import { byId, h } from "./dom.js";
import { renderTools } from "./tools.js";

const app = { info: { approval: false, audit: false, bench: false } };
const chat = new Chat(app);
const loaders = { audit: loadAudit, bench: loadBench };

function showTab(name) {
  for (const button of byId("tabs").querySelectorAll("button")) button.classList.toggle("active", button.dataset.tab === name);
  for (const section of document.querySelectorAll("section.tab")) section.hidden = section.id !== `tab-${name}`;
  loaders[name]?.();
}

function askKey(reason) {
  const dialog = byId("key-dialog");
  if (reason) byId("key-reason").textContent = reason;
  byId("key-input").value = auth.key;
  if (!dialog.open) {
    dialog.returnValue = "";
    dialog.showModal();
  }
}

function fatal(message) {
  const el = byId("fatal");
  el.textContent = message;
  el.hidden = !message;
}

async function boot() {
  let models, info, tools;
  try {
    [models, info, tools] = await Promise.all([api("/v1/models"), api("/ui/api/info"), api("/ui/api/tools")]);
  } catch (error) {
    if (error.status !== 401) fatal(error.message); // a 401 has opened the key dialog already
    return;
  }
  fatal("");
  app.info = info;
  byId("who").textContent = `as ${info.principal}`;
  const select = byId("model");
  const previous = select.value;
  select.replaceChildren(...models.data.map((m) => h("option", { value: m.id }, m.id)));
  if (models.data.some((m) => m.id === previous)) select.value = previous;
  chat.setServerTools(tools.tools);
  renderTools(tools.tools);
  document.body.dataset.ready = "true";
}

auth.onUnauthorized = (message) => askKey(`${message} Enter a key this server accepts.`);
byId("key-button").addEventListener("click", () => askKey());
byId("key-dialog").addEventListener("close", () => {
  const choice = byId("key-dialog").returnValue;
  if (choice === "use") auth.key = byId("key-input").value.trim();
  if (choice === "forget") auth.key = "";
  if (choice) {
    document.body.dataset.ready = "false";
    boot();
  }
});
for (const button of byId("tabs").querySelectorAll("button")) button.addEventListener("click", () => showTab(button.dataset.tab));
initAudit();
boot();
