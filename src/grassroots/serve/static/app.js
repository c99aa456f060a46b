// The search page: plain fetch() against the JSON API. Untrusted text is only ever set
// with textContent, and only http(s) URLs become links.
"use strict";
const $ = (sel) => document.querySelector(sel);
const statusLine = (msg) => { $("#status").textContent = msg; };

function el(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined && text !== null) e.textContent = text;
  return e;
}

function link(a, url) {
  a.textContent = url || "—";
  if (url && /^https?:\/\//i.test(url)) a.href = url; else a.removeAttribute("href");
}

async function api(path, options) {
  const r = await fetch(path, options);
  const body = await r.json().catch(() => ({}));
  if (!r.ok) {
    const d = body.detail;
    throw new Error(typeof d === "string" ? d : (Array.isArray(d) ? d.map((x) => x.msg).join("; ") : r.statusText));
  }
  return body;
}

function card(r) {
  const c = el("article", { class: "result", "data-key": r.key });
  const img = el("img", { src: r.image, alt: r.caption || "", loading: "lazy" });
  const cap = el("p", { class: "caption" }, r.caption || "(no caption)");
  const src = el("a", { class: "source", rel: "noopener noreferrer", target: "_blank" });
  link(src, r.page_url || r.url);
  const meta = el("p", { class: "muted" },
    r.distance !== null && r.distance !== undefined ? `PDQ distance ${r.distance} bits${r.exact ? " (exact)" : ""}`
      : (r.score !== null && r.score !== undefined ? `similarity ${r.score.toFixed(3)}` : ""));
  const open = el("button", { type: "button", class: "open" }, "Details");
  open.addEventListener("click", () => showDetail(r.key));
  const out = el("button", { type: "button", class: "optout" }, "Opt out");
  out.addEventListener("click", () => prefillOptOut({ keys: [r.key], urls: r.url ? [r.url] : [] }));
  img.addEventListener("click", () => showDetail(r.key));
  c.append(img, cap, src, meta);
  if (r.folded > 0)  // copies of this image left out of the page (dedup)
    c.append(el("p", { class: "folded muted" }, `+${r.folded} near-duplicate${r.folded > 1 ? "s" : ""}`));
  c.append(open, out);
  return c;
}

function foldedNote(results) {
  const n = results.reduce((sum, r) => sum + (r.folded || 0), 0);
  return n ? ` (${n} near-duplicate${n > 1 ? "s" : ""} folded)` : "";
}

function showResults(results, target = $("#results")) {
  target.replaceChildren(...results.map(card));
}

async function searchText(q) {
  const over = $("#over-txt").checked ? "txt" : "img";
  const params = new URLSearchParams({ q, k: "24", over, safe: $("#safe").checked });
  statusLine("searching…");
  const t0 = performance.now();
  const body = await api(`/api/search?${params}`);
  showResults(body.results);
  statusLine(`${body.results.length} results${foldedNote(body.results)} in ${Math.round(performance.now() - t0)} ms`);
}

async function searchImage(file) {
  const form = new FormData();
  form.append("file", file);
  form.append("k", "24");
  form.append("safe", $("#safe").checked);
  statusLine("searching by image…");
  const body = await api("/api/search/image", { method: "POST", body: form });
  showResults(body.results);
  statusLine(`${body.results.length} results like ${file.name}${foldedNote(body.results)}`);
}

let current = null;
async function showDetail(key) {
  const s = await api(`/api/sample/${encodeURIComponent(key)}`);
  current = s;
  $("#detail-image").src = s.image;
  $("#detail-caption").textContent = s.caption || "(no caption)";
  link($("#detail-url"), s.url);
  link($("#detail-page"), s.page_url);
  $("#detail-license").textContent = s.license || "none stated";
  const rights = [...(s.rights || []), ...(s.page_signals || [])];
  $("#detail-rights").replaceChildren(...(rights.length ? rights : ["none recorded"]).map((x) => el("li", {}, x)));
  const attrs = [];
  for (const [table, cols] of Object.entries(s.attributes))
    for (const [c, v] of Object.entries(cols)) attrs.push(el("li", {}, `${table}.${c}: ${typeof v === "number" ? +v.toFixed(4) : v}`));
  $("#detail-attributes").replaceChildren(...attrs);
  $("#detail-key").textContent = s.key;
  $("#detail").showModal();
}

function prefillOptOut({ keys = [], urls = [], pdq = [] }) {
  const f = $("#optout-form");
  f.keys.value = keys.join("\n");
  f.urls.value = urls.join("\n");
  f.pdq.value = pdq.join("\n");
  if ($("#detail").open) $("#detail").close();
  $("#optout").scrollIntoView();
  f.name.focus();
}

async function findWork(file) {
  const form = new FormData();
  form.append("file", file);
  const box = $("#find-results");
  box.textContent = "looking…";
  const body = await api("/api/find", { method: "POST", body: form });
  const head = el("p", {}, `${body.matches.length} PDQ matches within ${body.pdq_distance} bits; ` +
    `your image's PDQ hash: ${body.pdq}`);
  const matches = el("div", { class: "grid", id: "find-matches" });
  showResults(body.matches, matches);
  const optAll = el("button", { type: "button", id: "find-optout" }, "Opt out of all of these");
  optAll.addEventListener("click", () => prefillOptOut({
    keys: body.matches.map((m) => m.key), urls: body.matches.map((m) => m.url).filter(Boolean), pdq: [body.pdq] }));
  const similar = el("div", { class: "grid", id: "find-similar" });
  showResults(body.similar, similar);
  box.replaceChildren(head, matches, optAll, el("h3", {}, "Similar images (CLIP)"), similar);
}

const lines = (text) => text.split(/[\n,]+/).map((x) => x.trim()).filter(Boolean);

const KINDS = ["keys", "urls", "domains", "sha256", "md5", "pdq"];  // the record's remove lists

async function sendOptOut(e) {
  e.preventDefault();
  const f = e.target;
  const remove = Object.fromEntries(KINDS.map((k) => [k, lines(f[k].value)]));
  const body = { name: f.name.value, contact: f.contact.value, reason: f.reason.value,
    details: f.details.value.trim() || null, remove };
  const out = $("#optout-result");
  try {
    const r = await api("/api/optout", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body) });
    const what = KINDS.filter((k) => r.remove[k].length).map((k) => `${r.remove[k].length} ${k}`).join(", ");
    out.replaceChildren(el("p", { class: "ok" }, `Request ${r.id} received at ${r.time} (${r.reason}): ${what}.`),
      el("pre", { id: "optout-record" }, JSON.stringify(r, null, 1)));
  } catch (err) {
    out.replaceChildren(el("p", { class: "error" }, `Not sent: ${err.message}`));
  }
}

function guard(fn) {
  return (...args) => fn(...args).catch((err) => statusLine(`error: ${err.message}`));
}

$("#search").addEventListener("submit", guard(async (e) => {
  e.preventDefault();
  const q = $("#q").value.trim();
  if (q) await searchText(q);
}));
$("#image-query").addEventListener("change", guard(async (e) => { if (e.target.files[0]) await searchImage(e.target.files[0]); }));
$("#find-file").addEventListener("change", guard(async (e) => { if (e.target.files[0]) await findWork(e.target.files[0]); }));
$("#optout-form").addEventListener("submit", sendOptOut);
$("#detail-optout").addEventListener("click", () => current && prefillOptOut({
  keys: [current.key], urls: current.url ? [current.url] : [], pdq: current.pdq ? [current.pdq] : [] }));
$("#detail-similar").addEventListener("click", guard(async () => {
  if (!current) return;
  const body = await api(`/api/similar/${encodeURIComponent(current.key)}?k=24`);
  $("#detail").close();
  showResults(body.results);
  statusLine(`${body.results.length} images like ${current.key}${foldedNote(body.results)}`);
}));
for (const zone of [$("#q"), $("#results")]) {
  zone.addEventListener("dragover", (e) => e.preventDefault());
  zone.addEventListener("drop", guard(async (e) => {
    e.preventDefault();
    const file = e.dataTransfer.files[0];
    if (file) await searchImage(file);
  }));
}
api("/api/info").then((i) => {
  $("#info").textContent = `release ${i.release} · ${i.count} images · ${i.kind} index · model ${i.model_id}` +
    (i.heads.length ? ` · safety heads: ${i.heads.join(", ")}` : "") + (i.text_search ? "" : " · text search off");
}).catch((err) => statusLine(`error: ${err.message}`));
