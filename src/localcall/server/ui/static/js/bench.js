// The Benchmarks tab: the latest `localcall bench` reports (--bench-dir), tables and plots.
import { api, blobUrl } from "./api.js";
import { byId, h } from "./dom.js";

// A long decimal from the CSV shown to 3 places, as the markdown report shows it.
function shown(value) {
  return /^-?\d+\.\d{4,}$/.test(value) ? Number(value).toFixed(3) : value;
}

function table({ name, columns, rows }) {
  return h(
    "figure",
    { class: "bench-table" },
    h("figcaption", {}, name),
    h("div", { class: "scroll" }, h("table", {},
      h("thead", {}, h("tr", {}, ...columns.map((c) => h("th", {}, c)))),
      h("tbody", {}, ...rows.map((r) => h("tr", {}, ...r.map((v) => h("td", {}, shown(v)))))))),
  );
}

function image(path) {
  const img = h("img", { alt: path, class: "plot" });
  // Through fetch, so the API key goes along; <img src> could not send it.
  blobUrl(`/ui/api/bench/files/${path.split("/").map(encodeURIComponent).join("/")}`)
    .then((url) => { img.src = url; })
    .catch((error) => img.replaceWith(h("p", { class: "error" }, `${path}: ${error.message}`)));
  return h("figure", {}, img, h("figcaption", {}, path));
}

export async function loadBench() {
  const root = byId("bench-reports");
  let data;
  try {
    data = await api("/ui/api/bench");
  } catch (error) {
    root.replaceChildren(h("p", { class: "muted" }, error.message));
    return;
  }
  if (!data.reports.length) {
    root.replaceChildren(h("p", { class: "muted" }, `No reports (.csv, .png, .md) in ${data.folder} yet.`));
    return;
  }
  root.replaceChildren(
    ...data.reports.map((report, i) =>
      h(
        "section",
        { class: "report" },
        h("h3", {}, `${report.folder === "." ? data.folder : report.folder}${i === 0 ? " (latest)" : ""}`),
        h("p", { class: "muted" }, `written ${new Date(report.modified * 1000).toLocaleString()}`),
        ...report.images.map(image),
        ...report.tables.map(table),
        ...report.notes.map((n) => h("details", {}, h("summary", {}, n.name), h("pre", {}, n.text))),
      ),
    ),
  );
}
