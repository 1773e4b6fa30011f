// The chatstore web page: a list of histories and a conversation view, on
// the same /v1 API as every other client. No framework and no build step:
// the server embeds this file as it is. Every piece of stored data reaches
// the page through textContent or an attribute, never as HTML.
"use strict";

const PAGE_SIZE = 50;       // histories per page of the list
const MESSAGES_PER_PAGE = 100; // messages loaded at first and per "Load earlier" or "Load later"
const HITS_PER_PAGE = 20;   // search hits per page
const TOKEN_KEY = "chatstore-token";

const $ = (id) => document.getElementById(id);

const state = {
  token: sessionStorage.getItem(TOKEN_KEY) || "",
  cursor: null,        // next page of the history list
  prefix: "",
  historyID: null,     // the open conversation
  loaded: [],          // its messages loaded so far, oldest first
  hasEarlier: false,   // messages before loaded[0]
  hasLater: false,     // messages after the last loaded
  total: 0,            // messages in the open conversation
  compaction: null,    // its compaction in effect (GET …/compactions), or null
  expanded: false,     // the messages the compaction's summary stands for are shown
  query: "",           // the message search
  hitsCursor: null,    // its next page
  retry: null,         // what to run again once a token is given
};

// ---------------------------------------------------------------- the API

class APIError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(method, path, body) {
  const headers = { "Accept": "application/json" };
  if (state.token) headers["Authorization"] = "Bearer " + state.token;
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (e) {
    throw new APIError(0, "network", "the server cannot be reached: " + e.message);
  }
  if (resp.status === 204) return null;
  let answer = null;
  try {
    answer = await resp.json();
  } catch (e) {
    answer = null;
  }
  if (!resp.ok) {
    const err = answer && answer.error ? answer.error : { code: "http_" + resp.status, message: resp.statusText };
    throw new APIError(resp.status, err.code, err.message);
  }
  return answer;
}

const historyPath = (id) => "/v1/histories/" + encodeURIComponent(id).replace(/\./g, "%2E");

// ---------------------------------------------------------------- views

function show(view) {
  for (const v of ["login", "list-view", "conversation-view", "error-view"]) {
    $(v).hidden = v !== view;
  }
  $("forget-token").hidden = !state.token;
}

function status(text) {
  $("status").textContent = text;
}

// run calls fn, turning a 401 into the token form (fn runs again once a
// token is given) and other errors into the error view.
async function run(fn) {
  try {
    status("Loading…");
    await fn();
    status("");
  } catch (e) {
    status("");
    if (e instanceof APIError && e.status === 401) {
      state.retry = fn;
      show("login");
      $("token").focus();
      return;
    }
    $("error-text").textContent = e.code ? e.code + ": " + e.message : String(e);
    show("error-view");
  }
}

function route() {
  const hash = location.hash || "#/";
  if (hash.startsWith("#/h/")) {
    // #/h/ID, or #/h/ID/m/MESSAGE_ID for one message of it (a search
    // hit): both encoded, so the only "/" left is the separator.
    let id, mid;
    try {
      const [h, m] = hash.slice(4).split("/m/");
      id = decodeURIComponent(h);
      mid = m === undefined ? null : decodeURIComponent(m);
    } catch (e) {
      $("error-text").textContent = "the address does not name a history: " + hash;
      show("error-view");
      return;
    }
    run(() => openConversation(id, mid));
  } else {
    run(() => openList(state.prefix));
  }
}

// ---------------------------------------------------------------- the list

async function openList(prefix) {
  state.prefix = prefix;
  state.cursor = null;
  $("search").value = prefix;
  $("histories").replaceChildren();
  await loadHistories();
  show("list-view");
  document.title = "chatstore";
}

async function loadHistories() {
  const q = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (state.cursor) q.set("cursor", state.cursor);
  if (state.prefix) q.set("prefix", state.prefix);
  const page = await api("GET", "/v1/histories?" + q);
  const list = $("histories");
  for (const h of page.histories) {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = "#/h/" + encodeURIComponent(h.chat_history_id);
    a.textContent = h.chat_history_id;
    a.className = "history-id";
    const count = document.createElement("span");
    count.className = "count";
    count.textContent = h.count + (h.count === 1 ? " message" : " messages");
    li.append(a, count);
    list.append(li);
  }
  state.cursor = page.next_cursor;
  $("more-histories").hidden = !state.cursor;
  $("no-histories").hidden = list.children.length > 0;
}

// ---------------------------------------------------------------- message search

// searchMessages shows the messages that have the words of q (GET
// /v1/search), most relevant first, within the list's id prefix; more
// loads the next page.
async function searchMessages(q, more) {
  if (!more) {
    state.query = q;
    state.hitsCursor = null;
    $("hits").replaceChildren();
  }
  $("hits-section").hidden = false;
  const params = new URLSearchParams({ q: state.query, limit: String(HITS_PER_PAGE) });
  if (state.hitsCursor) params.set("cursor", state.hitsCursor);
  if (state.prefix) params.set("prefix", state.prefix);
  let page;
  try {
    page = await api("GET", "/v1/search?" + params);
  } catch (e) {
    if (!(e instanceof APIError) || (e.status !== 400 && e.status !== 501)) throw e;
    // A query that cannot run, or a store that does not search: said
    // here, with the list still shown.
    $("no-hits").textContent = e.message;
    $("no-hits").hidden = false;
    $("more-hits").hidden = true;
    return;
  }
  const list = $("hits");
  for (const h of page.hits) {
    const li = el("li", "hit-item");
    const a = el("a", "hit-link", h.chat_history_id + " #" + h.chat_message_id);
    a.href = "#/h/" + encodeURIComponent(h.chat_history_id) + "/m/" + encodeURIComponent(h.chat_message_id);
    const head = el("div", "hit-head");
    head.append(a, el("span", "role", h.role), el("time", "msg-time", h.created_at));
    const snippet = el("p", "snippet");
    snippet.append(...snippetNodes(h.snippet));
    li.append(head, snippet);
    list.append(li);
  }
  state.hitsCursor = page.next_cursor;
  $("more-hits").hidden = !state.hitsCursor;
  $("no-hits").textContent = "No message has these words.";
  $("no-hits").hidden = list.children.length > 0;
}

// snippetNodes turns a hit's snippet, which the server sends as escaped
// text with the matches in <mark>…</mark>, into text nodes and <mark>
// elements: its text reaches the page as text, never as HTML.
function snippetNodes(snippet) {
  const entities = { "&lt;": "<", "&gt;": ">", "&amp;": "&", "&#34;": '"', "&#39;": "'", "&quot;": '"' };
  const text = (s) => s.replace(/&(lt|gt|amp|quot|#34|#39);/g, (e) => entities[e]);
  const nodes = [];
  let marked = false;
  for (const piece of snippet.split(/(<mark>|<\/mark>)/)) {
    if (piece === "<mark>" || piece === "</mark>") {
      marked = piece === "<mark>";
    } else if (piece !== "") {
      nodes.push(marked ? el("mark", "", text(piece)) : document.createTextNode(text(piece)));
    }
  }
  return nodes;
}

// ---------------------------------------------------------------- a conversation

// messagesPage reads a page of the open history's messages, with their
// times; query selects it (newest, before or after a message id).
async function messagesPage(id, query) {
  return (await api("GET", historyPath(id) + "/messages?" + query + "&include=created_at")).messages;
}

// compactionInEffect returns the compaction of a history that windowed
// reads use, or null: none, or a server or store that keeps none.
async function compactionInEffect(id) {
  let answer;
  try {
    answer = await api("GET", historyPath(id) + "/compactions");
  } catch (e) {
    if (e instanceof APIError && (e.status === 501 || e.status === 404)) return null;
    throw e;
  }
  return answer.compactions.find((c) => c.in_effect) || null;
}

// openConversation shows a history: its newest messages, or, with mid,
// those around that message, which is marked and scrolled to. Earlier and
// later pages load on demand, by cursor.
async function openConversation(id, mid) {
  const info = await api("GET", historyPath(id));
  const compaction = await compactionInEffect(id);
  let msgs;
  if (mid == null) {
    msgs = await messagesPage(id, "newest=true&limit=" + MESSAGES_PER_PAGE);
    state.hasEarlier = msgs.length === MESSAGES_PER_PAGE;
    state.hasLater = false;
  } else {
    const half = MESSAGES_PER_PAGE / 2;
    const before = await messagesPage(id, "before=" + encodeURIComponent(mid) + "&limit=" + half);
    const from = before.length > 0 ? "after=" + encodeURIComponent(before[before.length - 1].meta.chat_message_id) : "offset=0";
    const rest = await messagesPage(id, from + "&limit=" + MESSAGES_PER_PAGE);
    msgs = before.concat(rest);
    state.hasEarlier = before.length === half;
    state.hasLater = rest.length === MESSAGES_PER_PAGE;
  }
  if (state.historyID !== id) state.expanded = false;
  state.historyID = id;
  state.compaction = compaction;
  state.info = info;
  state.total = info.count;
  state.loaded = msgs;
  $("conversation-title").textContent = id;
  showConversation();
  show("conversation-view");
  document.title = id + " · chatstore";
  if (mid != null) {
    const li = [...$("messages").children].find((li) => li.dataset.id === mid);
    if (li) {
      li.classList.add("hit");
      li.hidden = false; // a result shown inside its call is shown on its own too
      li.scrollIntoView({ block: "center" });
    }
  }
  await showWindow();
}

async function loadEarlier() {
  const first = state.loaded[0].meta.chat_message_id;
  const page = await messagesPage(state.historyID, "before=" + encodeURIComponent(first) + "&limit=" + MESSAGES_PER_PAGE);
  state.loaded = page.concat(state.loaded);
  state.hasEarlier = page.length === MESSAGES_PER_PAGE;
  showConversation();
  await showWindow();
}

async function loadLater() {
  const last = state.loaded[state.loaded.length - 1].meta.chat_message_id;
  const page = await messagesPage(state.historyID, "after=" + encodeURIComponent(last) + "&limit=" + MESSAGES_PER_PAGE);
  state.loaded = state.loaded.concat(page);
  state.hasLater = page.length === MESSAGES_PER_PAGE;
  showConversation();
  await showWindow();
}

const count = (n, one, many) => n + " " + (n === 1 ? one : many);

// formatTTL spells a time to live in seconds as the ttl= parameter does:
// whole days, hours or minutes when it is one, else seconds.
function formatTTL(s) {
  for (const [unit, n] of [["d", 86400], ["h", 3600], ["m", 60]]) {
    if (s % n === 0) return s / n + unit;
  }
  return s + "s";
}

function showConversation() {
  const n = state.loaded.length;
  $("conversation-count").textContent = state.total + (state.total === 1 ? " message" : " messages") +
    (n < state.total ? (state.hasLater ? ", " : ", the last ") + n + " shown" : "");
  const info = state.info || {};
  // null from a store that cannot count them.
  $("conversation-tokens").textContent = info.tokens == null ? "" : count(info.tokens, "token", "tokens");
  const md = Object.entries(info.metadata || {}).map(([k, v]) => k + "=" + v).join(", ");
  $("conversation-info").textContent = (info.created_at ? "created " + info.created_at + ", updated " + info.updated_at : "") +
    (info.expires_at ? ", expires " + info.expires_at + (info.ttl_seconds ? " (" + formatTTL(info.ttl_seconds) + " after its last change)" : "") : "") +
    (md ? " · metadata: " + md : "");
  renderMessages(state.loaded);
  $("load-earlier").hidden = !state.hasEarlier;
  $("load-later").hidden = !state.hasLater;
  showCompaction();
}

// showCompaction shows the compaction in effect as windowed reads see the
// history: its summary in place of the messages it stands for (its through
// message and every one before it), which stay in the list, hidden, until
// expanded. When the through message is not loaded but every later one is,
// the summary heads the list and expanding it loads earlier pages; when the
// later ones are not all loaded either, where it stands is not known and
// only the window says it is in effect.
function showCompaction() {
  const c = state.compaction;
  if (!c) return;
  const list = $("messages");
  const items = [...list.children];
  const at = items.findIndex((li) => li.dataset.id === c.through);
  if (at < 0 && state.hasLater) return;
  const covered = items.slice(0, at + 1);
  for (const li of covered) {
    li.classList.add("compacted");
    li.querySelector(".msg-head").append(el("span", "compacted-tag", "in the summary"));
  }
  const summary = renderSummary(c, covered.length);
  if (at < 0) {
    list.prepend(summary);
  } else {
    items[at].after(summary);
  }
  showCompacted();
}

// renderSummary shows a compaction's summary message, marked, with the
// button that shows or hides the n loaded messages it stands for.
function renderSummary(c, n) {
  const m = c.summary;
  const li = el("li", "msg summary role-" + m.role);
  li.dataset.summary = c.through;
  li.dataset.covered = String(n);
  const head = el("div", "msg-head");
  head.append(el("span", "role", m.role), el("span", "summary-label", "Summary of #" + c.through + " and every message before it"),
    el("span", "msg-tokens", count(c.tokens, "token", "tokens")), el("time", "msg-time", c.created_at));
  li.append(head);
  for (const p of m.content) li.append(renderPart(p, noView));
  const meta = renderMeta(m);
  if (meta) li.append(meta);
  const b = el("button", "expand-compacted");
  b.type = "button";
  li.append(b);
  return li;
}

// showCompacted shows or hides the messages the summary stands for, as
// state.expanded says; earlier pages hold only such messages, so their
// button shows with them.
function showCompacted() {
  const summary = $("messages").querySelector("li.summary");
  if (!summary) return;
  const n = Number(summary.dataset.covered);
  for (const li of $("messages").querySelectorAll("li.compacted")) {
    li.hidden = !state.expanded || li.classList.contains("folded");
  }
  if (n > 0) $("load-earlier").hidden = !state.hasEarlier || !state.expanded;
  const b = summary.querySelector("button.expand-compacted");
  b.setAttribute("aria-expanded", String(state.expanded));
  b.textContent = state.expanded ? "Hide the messages it stands for" :
    n > 0 ? "Show the " + count(n, "message", "messages") + " it stands for" + (state.hasEarlier ? " and earlier ones" : "") :
    "Show the messages it stands for";
}

// toggleCompacted expands or collapses the messages the summary stands
// for; expanding a summary none of whose messages is loaded loads the page
// before the first loaded message.
async function toggleCompacted() {
  state.expanded = !state.expanded;
  const summary = $("messages").querySelector("li.summary");
  if (state.expanded && summary && summary.dataset.covered === "0" && state.hasEarlier) {
    await loadEarlier();
    return;
  }
  showCompacted();
}

function renderMessages(msgs) {
  // Each tool result is shown once, with the call it answers: the latest
  // call before it with the same id (providers reuse ids such as "call_1"
  // from turn to turn, so the id alone is not enough). A tool message that
  // holds nothing but such answers is shown inside its calls, not again on
  // its own. A result written in OpenAI's format names only the call's id:
  // the call gives the tool's name.
  const latestCall = new Map(); // call id → {part, message}
  const callOf = new Map();     // result part → the call part it answers
  const answers = new Map();    // call part → {part, message}: the result shown with it
  const folded = new Set();     // messages shown inside the calls they answer
  for (const m of msgs) {
    const mine = []; // [result part, {part, message} of its call]
    for (const p of m.content) {
      if (p.tool_call && p.tool_call.id != null) latestCall.set(p.tool_call.id, { part: p, message: m });
      const r = p.tool_call_result;
      if (r && r.origin && r.origin.id != null) {
        const call = latestCall.get(r.origin.id);
        if (call) {
          callOf.set(p, call.part);
          mine.push([p, call]);
        }
      }
    }
    const calls = new Set(mine.map(([, c]) => c.part));
    if (mine.length > 0 && mine.length === m.content.length && calls.size === mine.length &&
        mine.every(([, c]) => c.message !== m && !answers.has(c.part))) {
      for (const [p, c] of mine) answers.set(c.part, { part: p, message: m });
      folded.add(m);
    }
  }
  const view = { callOf, answers, folded };
  $("messages").replaceChildren(...msgs.map((m) => renderMessage(m, view)));
}

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function pretty(v) {
  return JSON.stringify(v, null, 2);
}

function renderMessage(m, view) {
  const li = el("li", "msg role-" + m.role);
  const id = m.meta && m.meta.chat_message_id;
  li.dataset.id = id;
  const head = el("div", "msg-head");
  head.append(el("span", "role", m.role));
  if (m.name) head.append(el("span", "name", m.name));
  head.append(el("span", "msg-id", "#" + id));
  if (m.created_at) head.append(el("time", "msg-time", m.created_at));
  if (id !== undefined && id !== "") {
    const actions = el("span", "msg-actions");
    for (const [action, label] of [["delete", "Delete"], ["truncate", "Truncate from here"], ["fork", "Fork from here"]]) {
      const b = el("button", "msg-action", label);
      b.type = "button";
      b.dataset.action = action;
      b.dataset.id = id;
      actions.append(b);
    }
    head.append(actions);
  }
  li.append(head);
  if (view.folded.has(m)) {
    // Shown inside the calls it answers; the item stays, hidden, so that
    // the list still holds every message loaded, in order.
    li.hidden = true;
    li.classList.add("folded");
    return li;
  }
  for (const p of m.content) li.append(renderPart(p, view));
  const meta = renderMeta(m);
  if (meta) li.append(meta);
  return li;
}

// renderMeta returns the message's name and meta, collapsed, or null when
// it has neither (chat_message_id is in the header).
function renderMeta(m) {
  const meta = Object.assign({}, m.meta);
  delete meta.chat_message_id;
  if (Object.keys(meta).length === 0 && !m.name) return null;
  const d = el("details", "meta");
  d.append(el("summary", "", "name and meta"), el("pre", "", pretty({ name: m.name, meta })));
  return d;
}

const noView = { callOf: new Map(), answers: new Map(), folded: new Set() };

function renderPart(p, view) {
  if (p.text !== undefined) return el("p", "text", p.text);
  if (p.reasoning) {
    const d = el("details", "reasoning");
    d.append(el("summary", "", "Reasoning"), el("p", "text", p.reasoning.reasoning_text));
    return d;
  }
  if (p.tool_call) return renderCall(p, view.answers.get(p));
  if (p.tool_call_result) {
    const r = p.tool_call_result;
    const call = view.callOf.get(p);
    const name = (r.origin && r.origin.tool_name) || (call ? call.tool_call.tool_name : "");
    const id = r.origin ? r.origin.id : null;
    return renderResult(r, (name ? ": " + name : "") + (id != null ? " (" + id + ")" : ""));
  }
  if (p.image) return renderImage(p.image);
  if (p.file) return renderFile(p.file);
  return el("pre", "unknown", pretty(p));
}

function renderCall(p, answer) {
  const call = p.tool_call;
  const box = el("div", "tool-call");
  const d = el("details");
  d.open = true;
  d.append(el("summary", "", "Tool call: " + call.tool_name + (call.id != null ? " (" + call.id + ")" : "")),
    el("pre", "arguments", pretty(call.arguments)));
  box.append(d);
  if (answer) {
    const m = answer.message;
    const result = renderResult(answer.part.tool_call_result, " #" + m.meta.chat_message_id);
    // The tool message's name and meta go with its last result.
    const meta = m.content[m.content.length - 1] === answer.part ? renderMeta(m) : null;
    if (meta) result.append(meta);
    box.append(result);
  }
  return box;
}

// renderResult shows a tool result; after says which: the tool and call id
// for a result on its own, the tool message's id for one inside its call.
function renderResult(r, after) {
  const box = el("div", r.error ? "tool-result error" : "tool-result");
  box.append(el("div", "result-label", (r.error ? "Tool error" : "Tool result") + after));
  if (typeof r.result === "string") {
    box.append(el("pre", "result", r.result));
  } else {
    for (const part of r.result) box.append(renderPart(part, noView));
  }
  return box;
}

function renderImage(img) {
  const fig = el("figure", "image");
  const i = document.createElement("img");
  i.src = "data:" + (img.mime_type || "image/png") + ";base64," + img.base64_image;
  i.alt = "image" + (img.mime_type ? " (" + img.mime_type + ")" : "");
  fig.append(i);
  if (img.detail) fig.append(el("figcaption", "", "detail: " + img.detail));
  return fig;
}

function renderFile(f) {
  const a = el("a", "file", "File: " + (f.filename || "(no name)") + (f.mime_type ? " (" + f.mime_type + ")" : ""));
  a.href = "data:" + (f.mime_type || "application/octet-stream") + ";base64," + f.base64_data;
  a.download = f.filename || "file";
  return a;
}

// showWindow shows which messages a retrieve with the chosen last_k and
// token budget returns, as the server computes it: no round or token logic
// is repeated here. The window is the end of the history (with a
// compaction in effect, the summary and the messages after it), so it is
// marked once, where it starts; a window holding the whole history is said
// in the summary, not marked. Messages after the start that the window
// leaves out (the newest round of a window over its budget keeps only part
// of it) are dimmed.
async function showWindow() {
  const k = $("lastk").value.trim();
  const budget = $("max-tokens").value.trim();
  $("window-tokens").textContent = "";
  if (!/^\d+$/.test(k)) {
    $("window-summary").textContent = "last_k must be a whole number ≥ 0";
    return;
  }
  if (budget !== "" && !/^[1-9]\d*$/.test(budget)) {
    $("window-summary").textContent = "max tokens must be a whole number ≥ 1, or empty for no budget";
    return;
  }
  const asked = "last_k=" + k + (budget ? ", max_tokens=" + budget : "");
  const answer = await api("GET", historyPath(state.historyID) + "/messages?last_k=" + k + (budget ? "&max_tokens=" + budget : ""));
  const msgs = answer.messages;
  const win = answer.window || null; // a server before token budgets sends none
  const summarized = !!(win && win.compaction && win.compaction.summarized);
  const ids = new Set(msgs.map((m) => m.meta.chat_message_id));
  for (const old of $("messages").querySelectorAll(".window-start")) old.remove();
  let shown = 0;
  let first = null;
  for (const li of $("messages").children) {
    // The summary stands where its through message stood, which the
    // window, reading the summary, does not hold.
    let inside = ids.has(li.dataset.id) && !li.classList.contains("compacted");
    if (li.dataset.summary !== undefined) inside = summarized;
    li.classList.toggle("in-window", inside); // which ones: not styled, only the start is
    li.classList.remove("window-first");
    if (inside) {
      shown++;
      if (!first && !li.hidden) first = li;
    }
  }
  let after = false;
  for (const li of $("messages").children) {
    after = after || li === first;
    li.classList.toggle("dropped", after && !li.classList.contains("in-window"));
  }
  const n = msgs.length;
  const plural = (n) => count(n, "message", "messages");
  const notLoaded = n - shown;
  let text = asked + " returns ";
  let mark = true;
  if (n === 0) {
    text += "no messages";
    mark = false;
  } else if (summarized) {
    text += "the summary of #" + win.compaction.through + " and every message before it" + (n > 1 ? ", then " + plural(n - 1) : "");
  } else if (win && win.exceeded) {
    text += "part of the newest round: " + plural(n) + ", from #" + msgs[0].meta.chat_message_id;
  } else if (n >= state.total) {
    text += n === 1 ? "the only message, the whole history" : "all " + plural(n) + ", the whole history";
    mark = false;
  } else {
    text += "the last " + plural(n) + ", from #" + msgs[0].meta.chat_message_id;
  }
  if (mark && notLoaded === 0 && first) {
    first.classList.add("window-first");
    first.prepend(el("div", "window-start", asked + " starts here"));
  }
  if (notLoaded > 0) text += "; " + notLoaded + " not loaded";
  $("window-summary").textContent = text;
  $("window-tokens").textContent = windowDetail(win);
}

// windowDetail describes a window as the server gives it: its tokens and
// rounds, what it left out, and the compaction in effect.
function windowDetail(w) {
  if (!w) return "";
  const parts = [(w.max_tokens != null ? w.tokens + " of " + count(w.max_tokens, "token", "tokens") : count(w.tokens, "token", "tokens")) +
    ", " + count(w.rounds, "round", "rounds")];
  if (w.exceeded) parts.push("over the budget: even the newest round does not fit, and part of it is left out");
  if (w.more) {
    parts.push("older rounds left out" + (w.omitted ? " (" + count(w.omitted, "message", "messages") + ", " + count(w.omitted_tokens, "token", "tokens") + " not shown)" : ""));
  } else if (!w.exceeded && !w.compaction) {
    parts.push("nothing left out");
  }
  if (w.pruned > 0) parts.push(count(w.pruned, "tool result", "tool results") + " pruned");
  if (w.compaction) {
    parts.push("compaction through #" + w.compaction.through + " in effect: " +
      (w.compaction.summarized ? "its summary (" + count(w.compaction.tokens, "token", "tokens") + ") stands for #" + w.compaction.through + " and the messages before it" : "its summary is older than the window"));
  }
  return parts.join("; ");
}

// messageAction deletes one message, truncates from it, or forks the
// history through it, each after a confirmation dialog.
async function messageAction(action, mid) {
  const id = state.historyID;
  const path = historyPath(id) + "/messages";
  if (action === "delete") {
    if (!confirm("Delete message #" + mid + " of \"" + id + "\"? This cannot be undone.")) return;
    await api("DELETE", path + "/" + encodeURIComponent(mid).replace(/\./g, "%2E"));
  } else if (action === "truncate") {
    if (!confirm("Delete message #" + mid + " and every message after it? This cannot be undone.")) return;
    await api("DELETE", path + "?from=" + encodeURIComponent(mid));
  } else if (action === "fork") {
    const to = prompt("Fork \"" + id + "\" through message #" + mid + " into the new history:", id + "-fork");
    if (!to) return;
    await api("POST", historyPath(id) + "/fork", { chat_history_id: to, through: mid });
    location.hash = "#/h/" + encodeURIComponent(to);
    return;
  }
  await openConversation(id);
}

async function deleteHistory() {
  const id = state.historyID;
  if (!confirm("Delete the history \"" + id + "\" and its " + state.total + " messages? This cannot be undone.")) return;
  await api("DELETE", historyPath(id));
  state.historyID = null;
  location.hash = "#/";
}

// ---------------------------------------------------------------- wiring

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    state.token = $("token").value.trim();
    sessionStorage.setItem(TOKEN_KEY, state.token);
    $("token").value = "";
    const again = state.retry || route;
    state.retry = null;
    run(again);
  });
  $("forget-token").addEventListener("click", () => {
    state.token = "";
    sessionStorage.removeItem(TOKEN_KEY);
    route();
  });
  $("search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    run(() => openList($("search").value));
  });
  $("more-histories").addEventListener("click", () => run(loadHistories));
  $("message-search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    run(() => searchMessages($("message-search").value, false));
  });
  $("more-hits").addEventListener("click", () => run(() => searchMessages(state.query, true)));
  $("lastk-form").addEventListener("submit", (e) => {
    e.preventDefault();
    run(showWindow);
  });
  $("load-earlier").addEventListener("click", () => run(loadEarlier));
  $("load-later").addEventListener("click", () => run(loadLater));
  $("delete-history").addEventListener("click", () => run(deleteHistory));
  $("conversation-view").addEventListener("click", (e) => {
    const b = e.target.closest("button.msg-action");
    if (b) run(() => messageAction(b.dataset.action, b.dataset.id));
    if (e.target.closest("button.expand-compacted")) run(toggleCompacted);
  });
  window.addEventListener("hashchange", route);
  route();
});
