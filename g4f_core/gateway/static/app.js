/* g4f-core's page: the providers table and a chat, over the gateway's own API.
 *
 * Plain script, no framework, nothing from another origin. Every text that comes from
 * the gateway or the user is inserted with textContent (or as Text nodes), never as HTML.
 * Requests go to paths relative to the page, so the page also works behind a prefix.
 */
"use strict";

(() => {
  const KEY_STORE = "g4f-core.api-key";
  const CHAT_STORE = "g4f-core.chat";
  const PROVIDER_HEADER = "x-g4f-provider";

  // ---- server-sent events -------------------------------------------------------------

  /** Incremental SSE decoding: text in (any split), complete events' data out. */
  class SSEParser {
    constructor() {
      this.buffer = "";
      this.data = [];
      this.scanned = 0;
    }

    /** Feed decoded text; returns the data of every event it completed. */
    feed(text) {
      this.buffer += text;
      const events = [];
      let start = 0;
      let i = this.scanned;
      while (i < this.buffer.length) {
        const ch = this.buffer[i];
        if (ch !== "\n" && ch !== "\r") {
          i += 1;
          continue;
        }
        if (ch === "\r" && i + 1 === this.buffer.length) break; // "\r\n" may be split
        const line = this.buffer.slice(start, i);
        i += ch === "\r" && this.buffer[i + 1] === "\n" ? 2 : 1;
        start = i;
        this.line(line, events);
      }
      this.buffer = this.buffer.slice(start);
      this.scanned = Math.max(0, i - start);
      return events;
    }

    /** The stream ended: a lone "\r" still ends its line; an unterminated event is dropped. */
    end() {
      const events = [];
      if (this.buffer.endsWith("\r")) this.line(this.buffer.slice(0, -1), events);
      this.buffer = "";
      this.data = [];
      this.scanned = 0;
      return events;
    }

    line(line, events) {
      if (line === "") {
        if (this.data.length) events.push(this.data.join("\n"));
        this.data = [];
        return;
      }
      if (line.startsWith(":")) return; // a comment: the gateway's keep-alive
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "data") this.data.push(value);
    }
  }

  /** Every event's data from a byte stream reader, decoded as UTF-8 across chunk splits. */
  async function* sseEvents(reader) {
    const decoder = new TextDecoder();
    const parser = new SSEParser();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        yield* parser.feed(decoder.decode());
        yield* parser.end();
        return;
      }
      yield* parser.feed(decoder.decode(value, { stream: true }));
    }
  }

  // ---- the gateway's API --------------------------------------------------------------

  class GatewayError extends Error {
    constructor(message, status) {
      super(message);
      this.name = "GatewayError";
      this.status = status;
    }
  }

  /** The gateway's one-line message from an error response. */
  async function errorMessage(response) {
    try {
      const message = JSON.parse(await response.text()).error.message;
      if (typeof message === "string" && message) return oneLine(message);
    } catch (_) {
      /* not the gateway's JSON error: fall back to the status */
    }
    return `HTTP ${response.status}${response.statusText ? " " + response.statusText : ""}`;
  }

  function oneLine(text) {
    return String(text).replace(/\s+/g, " ").trim();
  }

  let keyPrompt = null; // one dialog at a time, shared by concurrent requests

  function askForKey(reason) {
    if (keyPrompt) return keyPrompt;
    const dialog = byId("key-dialog");
    const input = byId("key-input");
    byId("key-reason").textContent = reason;
    input.value = "";
    keyPrompt = new Promise((resolve) => {
      const done = (value) => {
        byId("key-form").removeEventListener("submit", onSubmit);
        byId("key-cancel").removeEventListener("click", onCancel);
        dialog.removeEventListener("cancel", onCancel);
        if (dialog.open) dialog.close();
        keyPrompt = null;
        resolve(value);
      };
      const onSubmit = (event) => {
        event.preventDefault();
        if (input.value) done(input.value);
      };
      const onCancel = (event) => {
        event.preventDefault();
        done(null);
      };
      byId("key-form").addEventListener("submit", onSubmit);
      byId("key-cancel").addEventListener("click", onCancel);
      dialog.addEventListener("cancel", onCancel);
    });
    dialog.showModal();
    input.focus();
    return keyPrompt;
  }

  /** fetch() with the session's API key; a 401 asks for the key (once) and retries. */
  async function api(path, init = {}) {
    for (;;) {
      const key = sessionStorage.getItem(KEY_STORE);
      const headers = new Headers(init.headers || {});
      if (key) headers.set("Authorization", `Bearer ${key}`);
      const response = await fetch(path, { ...init, headers, cache: "no-store" });
      if (response.status !== 401) return response;
      const message = await errorMessage(response);
      const stored = sessionStorage.getItem(KEY_STORE);
      if (stored && stored !== key) continue; // another request's prompt already got one
      const reason = key ? `The gateway refused that key: ${message}` : message;
      const entered = await askForKey(reason);
      if (entered === null) throw new GatewayError(message, 401);
      sessionStorage.setItem(KEY_STORE, entered);
    }
  }

  async function getJSON(path) {
    const response = await api(path);
    if (!response.ok) throw new GatewayError(await errorMessage(response), response.status);
    return response.json();
  }

  // ---- small DOM helpers --------------------------------------------------------------

  function byId(id) {
    return document.getElementById(id);
  }

  /** An element with text content and attributes; children are nodes or strings (as text). */
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === false || value === null || value === undefined) continue;
      if (name === "text") node.textContent = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    node.append(...children.filter((c) => c !== null && c !== undefined));
    return node;
  }

  function yesNo(flag) {
    return el("td", { class: flag ? "yes" : "no", text: flag ? "yes" : "no" });
  }

  function show(value) {
    return value === null || value === undefined ? "none" : JSON.stringify(value);
  }

  /** An option's default as Python declared it: a float 1.0 is not shown as the int 1. */
  function showDefault(option) {
    const value = option.default;
    return option.type === "float" && Number.isInteger(value) ? value.toFixed(1) : show(value);
  }

  // ---- the data -----------------------------------------------------------------------

  const data = { providers: [], failures: [], models: [] };

  async function loadData() {
    const [listing, models] = await Promise.all([getJSON("v1/providers"), getJSON("v1/models")]);
    data.providers = listing.providers || [];
    data.failures = listing.failures || [];
    data.models = (models.data || []).map((m) => ({ id: m.id, owner: m.owned_by || "" }));
  }

  /** A config file's table (``origin``, when the listing has one), else the distribution. */
  function sourceOf(p) {
    if (p.origin && p.origin.file) {
      const file = p.origin.file.split(/[\\/]/).pop();
      return `config: ${file}${p.origin.table ? ` [${p.origin.table}]` : ""}`;
    }
    if (p.distribution) return p.version ? `${p.distribution} ${p.version}` : p.distribution;
    return p.entry_point ? `config: ${p.entry_point}` : "config";
  }

  function lastCheck(check) {
    if (!check) return "never";
    const parts = [check.outcome, check.at, check.mode].filter(Boolean);
    return parts.join(" · ");
  }

  function limitsOf(option) {
    const parts = [];
    for (const [key, sign] of [["ge", "≥"], ["gt", ">"], ["le", "≤"], ["lt", "<"]]) {
      if (typeof option[key] === "number") parts.push(`${sign} ${option[key]}`);
    }
    if (Array.isArray(option.choices)) parts.push(`one of ${option.choices.map(show).join(", ")}`);
    return parts.join(", ");
  }

  // ---- providers view -----------------------------------------------------------------

  function filtered() {
    const model = byId("filter-model").value;
    const stream = byId("filter-stream").checked;
    const noAuth = byId("filter-no-auth").checked;
    const working = byId("filter-working").checked;
    return data.providers.filter(
      (p) =>
        (!model || p.models.includes(model)) &&
        (!stream || p.supports_stream) &&
        (!noAuth || !p.needs_auth) &&
        (!working || p.working),
    );
  }

  function providerRow(p) {
    const models = el("ul", { class: "models" }, ...p.models.map((m) => el("li", { text: m })));
    const url = p.url ? el("span", { class: "url", text: p.url }) : null;
    const name = el("td", {}, el("div", {}, el("strong", { text: p.name }), url));
    const count = p.options.length;
    const row = el(
      "tr",
      { "data-provider": p.name },
      name,
      el("td", {}, models),
      yesNo(p.supports_stream),
      el("td", { text: p.needs_auth ? "needs a key" : "none" }),
      yesNo(p.working),
      el("td", { text: sourceOf(p) }),
      el("td", { text: lastCheck(p.last_check) }),
      el("td", { text: count ? `${count} declared` : "none" }),
    );
    // Narrow screens show each row as a card; each cell then names its column itself.
    const heads = document.querySelectorAll("#provider-table thead th");
    [...row.cells].forEach((cell, i) => (cell.dataset.label = heads[i].textContent));
    return row;
  }

  function optionTable(p) {
    const head = ["Option", "Type", "Default", "Range", "OpenAI name", "Help"];
    const rows = p.options.map((o) =>
      el(
        "tr",
        {},
        el("th", { scope: "row" }, el("code", { text: o.name })),
        el("td", { text: o.type }),
        el("td", {}, el("code", { text: showDefault(o) })),
        el("td", { text: limitsOf(o) || "any" }),
        el("td", { text: (o.openai || []).join(", ") }),
        el("td", { text: o.help || "" }),
      ),
    );
    const table = el(
      "table",
      {},
      el("caption", { class: "visually-hidden", text: `Options of ${p.name}` }),
      el("thead", {}, el("tr", {}, ...head.map((h) => el("th", { scope: "col", text: h })))),
      el("tbody", {}, ...rows),
    );
    return el(
      "details",
      { class: "option-group", "data-provider": p.name },
      el("summary", { text: `${p.name}: ${p.options.length} option${p.options.length === 1 ? "" : "s"}` }),
      el("div", { class: "scroll" }, table),
    );
  }

  function renderProviders() {
    const shown = filtered();
    byId("provider-rows").replaceChildren(...shown.map(providerRow));
    const withOptions = shown.filter((p) => p.options.length);
    byId("provider-options").replaceChildren(
      ...(withOptions.length ? withOptions.map(optionTable) : [el("p", { text: "None declared." })]),
    );
    const total = data.providers.length;
    byId("provider-count").textContent = `${shown.length} of ${total} provider${total === 1 ? "" : "s"} shown`;
  }

  function renderFailures() {
    byId("failures-none").hidden = data.failures.length > 0;
    byId("failures").replaceChildren(
      ...data.failures.map((f) =>
        el(
          "li",
          { "data-failure": f.name },
          el("strong", { text: f.name }),
          ` (${f.origin && f.origin.file ? sourceOf(f) : [f.distribution, f.version].filter(Boolean).join(" ") || "no distribution"}; entry point `,
          el("code", { text: f.entry_point || "none" }),
          ")",
          el("span", { class: "reason", text: f.error }),
        ),
      ),
    );
  }

  function setUpProviders() {
    const models = [...new Set(data.providers.flatMap((p) => p.models))].sort();
    byId("filter-model").append(...models.map((m) => el("option", { value: m, text: m })));
    byId("filters").addEventListener("change", renderProviders);
    byId("filters").addEventListener("submit", (event) => event.preventDefault());
    renderProviders();
    renderFailures();
  }

  // ---- chat: state kept in sessionStorage ---------------------------------------------

  const chat = { provider: "", model: "", system: "", options: {}, messages: [] };

  function loadChat() {
    try {
      const saved = JSON.parse(sessionStorage.getItem(CHAT_STORE) || "{}");
      if (Array.isArray(saved.messages)) chat.messages = saved.messages;
      for (const key of ["provider", "model", "system"]) {
        if (typeof saved[key] === "string") chat[key] = saved[key];
      }
      if (saved.options && typeof saved.options === "object") chat.options = saved.options;
    } catch (_) {
      /* a damaged record reads as an empty conversation */
    }
    for (const m of chat.messages) if (m.streaming) {
      m.streaming = false;
      m.note = "interrupted by a reload";
    }
  }

  function saveChat() {
    sessionStorage.setItem(CHAT_STORE, JSON.stringify(chat));
  }

  // ---- chat: provider, model and options ----------------------------------------------

  /** A provider by the label /v1/models gives it: its name, or dist:Name when names clash. */
  function providerOf(label) {
    return data.providers.find((p) => p.name === label || `${p.distribution}:${p.name}` === label) || null;
  }

  /** An id "Label/model" is owned by its provider's label; any other id is a bare model. */
  function ownedBy(m) {
    return m.owner && m.id.startsWith(`${m.owner}/`) ? m.owner : "";
  }

  /** The models /v1/models lists for a provider label, or the bare ones ("any provider"). */
  function modelChoices(label) {
    const models = data.models.filter((m) => ownedBy(m) === label);
    return models.map((m) => (label ? m.id.slice(label.length + 1) : m.id));
  }

  function fillProviders() {
    const select = byId("chat-provider");
    const labels = [...new Set(data.models.map(ownedBy).filter(Boolean))];
    select.replaceChildren(
      el("option", { value: "", text: "any provider for this model" }),
      ...labels.map((label) => el("option", { value: label, text: label })),
    );
    if (!labels.includes(chat.provider)) chat.provider = "";
    select.value = chat.provider;
  }

  function fillModels() {
    const select = byId("chat-model");
    const models = modelChoices(chat.provider);
    select.replaceChildren(...models.map((m) => el("option", { value: m, text: m })));
    if (!models.includes(chat.model)) chat.model = models[0] || "";
    select.value = chat.model;
  }

  function inputFor(option, id, value) {
    const type = option.type;
    if (Array.isArray(option.choices)) {
      const select = el("select", { id });
      select.append(...option.choices.map((c, i) => el("option", { value: String(i), text: show(c) })));
      const index = option.choices.findIndex((c) => JSON.stringify(c) === JSON.stringify(value));
      select.value = String(index < 0 ? 0 : index);
      return select;
    }
    if (type === "bool") {
      const box = el("input", { id, type: "checkbox" });
      box.checked = value === true;
      return box;
    }
    if (type === "int" || type === "float") {
      const min = typeof option.ge === "number" ? option.ge : option.gt;
      const max = typeof option.le === "number" ? option.le : option.lt;
      const input = el("input", { id, type: "number", step: type === "int" ? "1" : "any", min, max });
      input.value = value === null || value === undefined ? "" : String(value);
      return input;
    }
    if (type === "list[str]") {
      const area = el("textarea", { id, rows: "2" });
      area.value = Array.isArray(value) ? value.join("\n") : "";
      return area;
    }
    const input = el("input", { id, type: "text" });
    input.value = value === null || value === undefined ? "" : String(value);
    return input;
  }

  function renderOptions() {
    const provider = providerOf(chat.provider);
    const fields = byId("chat-option-fields");
    const note = byId("chat-options-note");
    if (!provider || !provider.options.length) {
      fields.replaceChildren();
      note.textContent = provider
        ? `${provider.name} declares no options.`
        : "Pick a provider to set its options; any provider answers with its defaults.";
      return;
    }
    note.textContent = "Changed values are sent; defaults are what the provider uses otherwise.";
    const saved = chat.options[provider.name] || {};
    fields.replaceChildren(
      ...provider.options.map((o) => {
        const id = `opt-${o.name}`;
        const value = Object.hasOwn(saved, o.name) ? saved[o.name] : o.default;
        const input = inputFor(o, id, value);
        input.setAttribute("aria-describedby", `${id}-help ${id}-error`);
        input.dataset.option = o.name;
        const limits = limitsOf(o);
        const help = [o.type, `default ${showDefault(o)}`, limits, o.help].filter(Boolean).join("; ");
        const label = el("label", { for: id }, el("code", { text: o.name }));
        const wrap = el("div", { class: "field" });
        if (o.type === "bool") wrap.append(el("span", { class: "check" }, input, label));
        else wrap.append(label, input);
        wrap.append(el("span", { id: `${id}-help`, class: "hint", text: help }));
        wrap.append(el("span", { id: `${id}-error`, class: "field-error" }));
        return wrap;
      }),
    );
  }

  /** One option's value from its input, or an Error saying why it cannot be sent. */
  function readOption(option, input) {
    if (Array.isArray(option.choices)) return option.choices[Number(input.value)];
    if (option.type === "bool") return input.checked;
    const raw = input.value.trim();
    if (option.type === "list[str]") return raw ? raw.split("\n").map((s) => s.trim()).filter(Boolean) : option.default;
    if (option.type !== "int" && option.type !== "float") return raw === "" && option.default === null ? null : input.value;
    if (raw === "") {
      if (option.default === null) return null;
      return new Error(`enter a number (default ${option.default})`);
    }
    const value = Number(raw);
    if (!Number.isFinite(value)) return new Error("must be a number");
    if (option.type === "int" && !Number.isInteger(value)) return new Error("must be a whole number");
    const fails = [
      ["ge", (b) => value >= b, "≥"], ["gt", (b) => value > b, ">"],
      ["le", (b) => value <= b, "≤"], ["lt", (b) => value < b, "<"],
    ].find(([key, holds]) => typeof option[key] === "number" && !holds(option[key]));
    if (fails) return new Error(`must be ${fails[2]} ${option[fails[0]]}`);
    return value;
  }

  /** The options to send (those that differ from the defaults), or null if one is invalid. */
  function collectOptions() {
    const provider = providerOf(chat.provider);
    if (!provider) return {};
    const values = {};
    const changed = {};
    let firstBad = null;
    for (const o of provider.options) {
      const input = byId(`opt-${o.name}`);
      if (!input) continue;
      const value = readOption(o, input);
      const error = byId(`opt-${o.name}-error`);
      if (value instanceof Error) {
        input.setAttribute("aria-invalid", "true");
        error.textContent = `${o.name} ${value.message}`;
        firstBad = firstBad || input;
        continue;
      }
      input.removeAttribute("aria-invalid");
      error.textContent = "";
      values[o.name] = value;
      if (JSON.stringify(value) !== JSON.stringify(o.default)) changed[o.name] = value;
    }
    if (firstBad) {
      byId("settings").open = true;
      firstBad.focus();
      return null;
    }
    chat.options[provider.name] = values;
    return changed;
  }

  // ---- chat: the conversation -------------------------------------------------------

  const ROLES = { user: "You", assistant: "Assistant", error: "Error" };

  function messageNode(m) {
    const text = el("p", { class: "text" });
    text.append(document.createTextNode(m.content));
    const meta = el("p", { class: "meta" });
    const item = el("li", { class: `message ${m.role}` }, el("span", { class: "role", text: ROLES[m.role] || m.role }), text, meta);
    updateMeta(meta, m);
    return item;
  }

  /** The header's qualified name (dist:Name) shortened to the name when no other shares it. */
  function providerLabel(header) {
    const found = data.providers.find((p) => `${p.distribution}:${p.name}` === header || p.name === header);
    if (!found || data.providers.filter((p) => p.name === found.name).length > 1) return header;
    return found.name;
  }

  function updateMeta(meta, m) {
    const parts = [];
    if (m.provider) {
      const name = providerLabel(m.provider);
      const model = m.model && m.model.startsWith(`${name}/`) ? m.model.slice(name.length + 1) : m.model;
      parts.push(`answered by ${name}${model ? ` (${model})` : ""}`);
    }
    if (m.note) parts.push(m.note);
    meta.textContent = parts.join(" · ");
    meta.hidden = parts.length === 0;
  }

  function renderConversation() {
    byId("conversation").replaceChildren(...chat.messages.map(messageNode));
    scrollDown();
  }

  function scrollDown() {
    const log = byId("conversation-log");
    log.scrollTop = log.scrollHeight;
  }

  function status(text) {
    byId("chat-status").textContent = text;
  }

  /** What the gateway is sent: the system prompt, then every user and assistant turn. */
  function transcript() {
    const turns = chat.messages.filter((m) => (m.role === "user" || m.role === "assistant") && m.content);
    const system = chat.system.trim() ? [{ role: "system", content: chat.system }] : [];
    return [...system, ...turns.map((m) => ({ role: m.role, content: m.content }))];
  }

  let controller = null;

  function busy(on) {
    byId("chat-send").disabled = on;
    byId("chat-stop").disabled = !on;
    byId("conversation-log").setAttribute("aria-busy", on ? "true" : "false");
  }

  function addMessage(m) {
    chat.messages.push(m);
    const node = messageNode(m);
    byId("conversation").append(node);
    scrollDown();
    saveChat();
    return node;
  }

  async function send(prompt) {
    const options = collectOptions();
    if (options === null) {
      status("An option is out of range: fix it and send again.");
      return;
    }
    const model = chat.provider ? `${chat.provider}/${chat.model}` : chat.model;
    if (!chat.model) {
      status("There is no model to send to.");
      return;
    }
    byId("chat-input").value = "";
    addMessage({ role: "user", content: prompt });
    const body = { model, messages: transcript(), stream: true, ...options };
    controller = new AbortController();
    busy(true);
    status("Waiting for the first token…");
    let reply = null;
    try {
      const response = await api("v1/chat/completions", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
        body: JSON.stringify(body),
        signal: controller.signal,
      });
      if (!response.ok) throw new GatewayError(await errorMessage(response), response.status);
      const m = { role: "assistant", content: "", provider: response.headers.get(PROVIDER_HEADER), model: null, streaming: true };
      reply = { m, node: addMessage(m) };
      await readReply(response, reply);
      status(`Answer complete${m.provider ? ` from ${providerLabel(m.provider)}` : ""}.`);
    } catch (error) {
      if (error.name === "AbortError") {
        if (reply) reply.m.note = "stopped";
        status("Stopped.");
      } else {
        const message = error instanceof GatewayError ? error.message : `The request failed: ${oneLine(error.message)}`;
        if (reply) reply.m.note = "cut short by an error";
        addMessage({ role: "error", content: message });
        status(`Error: ${message}`);
      }
    } finally {
      if (reply) {
        reply.m.streaming = false;
        updateMeta(reply.node.querySelector(".meta"), reply.m);
      }
      controller = null;
      busy(false);
      saveChat();
    }
  }

  async function readReply(response, reply) {
    const text = reply.node.querySelector(".text").firstChild;
    const meta = reply.node.querySelector(".meta");
    status("Receiving…");
    for await (const event of sseEvents(response.body.getReader())) {
      if (event === "[DONE]") return;
      const chunk = JSON.parse(event);
      if (chunk.error) throw new GatewayError(oneLine(chunk.error.message || "the stream failed"));
      if (!reply.m.model && chunk.model) {
        reply.m.model = chunk.model;
        updateMeta(meta, reply.m);
      }
      const delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
      if (delta && typeof delta.content === "string" && delta.content) {
        reply.m.content += delta.content;
        text.appendData(delta.content); // a Text node: markup in a reply stays text
        scrollDown();
        saveChat();
      }
    }
    throw new GatewayError("The stream ended before the gateway finished it.");
  }

  function setUpChat() {
    loadChat();
    fillProviders();
    fillModels();
    renderOptions();
    byId("chat-system").value = chat.system;
    renderConversation();
    byId("chat-provider").addEventListener("change", (event) => {
      collectOptionsQuietly();
      chat.provider = event.target.value;
      fillModels();
      renderOptions();
      saveChat();
    });
    byId("chat-model").addEventListener("change", (event) => {
      chat.model = event.target.value;
      saveChat();
    });
    byId("chat-system").addEventListener("input", (event) => {
      chat.system = event.target.value;
      saveChat();
    });
    byId("chat-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const prompt = byId("chat-input").value;
      if (controller || !prompt.trim()) return;
      send(prompt);
    });
    byId("chat-input").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        byId("chat-form").requestSubmit();
      }
    });
    byId("chat-stop").addEventListener("click", () => controller && controller.abort());
    byId("chat-clear").addEventListener("click", () => {
      if (controller) controller.abort();
      chat.messages = [];
      renderConversation();
      saveChat();
      status("");
    });
  }

  /** Keep what was typed into the options when the provider changes (invalid values stay unsent). */
  function collectOptionsQuietly() {
    const provider = providerOf(chat.provider);
    if (!provider) return;
    const values = {};
    for (const o of provider.options) {
      const input = byId(`opt-${o.name}`);
      const value = input ? readOption(o, input) : o.default;
      if (!(value instanceof Error)) values[o.name] = value;
    }
    chat.options[provider.name] = values;
  }

  // ---- views ------------------------------------------------------------------------

  function route() {
    const view = location.hash === "#chat" ? "chat" : "providers";
    for (const name of ["providers", "chat"]) {
      byId(name).hidden = name !== view;
      const link = byId(`nav-${name}`);
      if (name === view) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    return view;
  }

  async function start() {
    window.addEventListener("hashchange", () => byId(`${route()}-title`).focus());
    route();
    try {
      await loadData();
    } catch (error) {
      const box = byId("load-error");
      box.textContent = `Cannot read the gateway: ${error instanceof GatewayError ? error.message : oneLine(error.message)}`;
      box.hidden = false;
      byId("provider-count").textContent = "No providers loaded.";
      return;
    }
    setUpProviders();
    setUpChat();
    document.body.dataset.ready = "true";
  }

  // For the browser tests: the parser that production uses, fed by hand.
  window.g4fPage = Object.freeze({ SSEParser, sseEvents });

  start();
})();
