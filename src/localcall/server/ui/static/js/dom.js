// A small element builder: h("div", {class: "card", "data-id": id}, child, "text", ...).
// Text is always inserted as text (never as HTML), so model output cannot inject markup.
export function h(tag, attributes = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  el.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

export function pretty(value) {
  return JSON.stringify(value, null, 2);
}

// JSON text shown indented when it parses, as it is otherwise.
export function prettyText(text) {
  try {
    return pretty(JSON.parse(text));
  } catch {
    return text;
  }
}

export function byId(id) {
  return document.getElementById(id);
}
