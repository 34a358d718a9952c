// Talk to the TensorBoard page that hosts this iframe.
//
// TensorBoard's dynamic-plugin protocol (version "experimental"): the iframe
// posts the string "experimental.bootstrap" to its parent with a MessagePort;
// both sides then exchange JSON strings {type, id, payload, error, isReply}
// over that port, and every non-reply message gets a reply with the same id.
// The host answers "experimental.GetURLPluginData" with the `p.<plugin>.*`
// entries of its URL hash (prefix stripped), and broadcasts
// "experimental.DataReloaded" on reload / auto-reload. The host has no setter,
// so we write our `p.<plugin>.*` entries into the parent's hash directly (the
// iframe is same-origin), in the host's format: `#<tab>&key=value&...`, and
// read them back from there too (see readParentUrlData).

const VERSION = "experimental";
export const GET_URL_PLUGIN_DATA = `${VERSION}.GetURLPluginData`;
export const DATA_RELOADED = `${VERSION}.DataReloaded`;

export class TensorBoardBridge {
  constructor(pluginName) {
    this.pluginName = pluginName;
    this.nextId = 0;
    this.waiting = new Map(); // id -> {resolve, reject}
    this.listeners = new Map(); // type -> callback
    this.port = null;
    if (window.parent === window) return;
    const channel = new MessageChannel();
    this.port = channel.port1;
    this.port.addEventListener("message", (event) => this.onMessage(event));
    this.port.start();
    window.parent.postMessage(`${VERSION}.bootstrap`, "*", [channel.port2]);
  }

  get embedded() {
    return this.port !== null;
  }

  on(type, callback) {
    this.listeners.set(type, callback);
  }

  send(type, payload = null) {
    if (!this.port) return Promise.reject(new Error("not inside TensorBoard"));
    const id = this.nextId++;
    this.post({ type, id, payload, error: null, isReply: false });
    return new Promise((resolve, reject) => this.waiting.set(id, { resolve, reject }));
  }

  post(message) {
    this.port.postMessage(JSON.stringify(message));
  }

  async onMessage(event) {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    const { type, id, payload, error, isReply } = message;
    if (isReply) {
      const waiter = this.waiting.get(id);
      this.waiting.delete(id);
      if (waiter) error ? waiter.reject(new Error(error)) : waiter.resolve(payload);
      return;
    }
    let reply = null;
    let replyError = null;
    try {
      reply = (await this.listeners.get(type)?.(payload)) ?? null;
    } catch (caught) {
      replyError = String(caught);
    }
    this.post({ type, id, payload: reply, error: replyError, isReply: true });
  }

  /** The host's `p.<plugin>.*` URL entries, or {} if the host does not answer in time. */
  async readUrlData(timeoutMs = 500) {
    if (!this.port) return {};
    const timeout = new Promise((resolve) => setTimeout(() => resolve({}), timeoutMs));
    try {
      return (await Promise.race([this.send(GET_URL_PLUGIN_DATA), timeout])) ?? {};
    } catch {
      return {};
    }
  }

  /**
   * This plugin's `p.<plugin>.*` entries read straight from the parent's URL
   * (same origin), or null when it is not readable. Needed because the host's
   * answer to GetURLPluginData can be stale: TensorBoard 2.21 builds that dict
   * before it switches to hash storage and refreshes it only on `hashchange`,
   * so on a fresh page load it answers {} even for a deep link.
   */
  readParentUrlData() {
    if (!this.port) return null;
    try {
      return pluginEntries(window.parent.location.hash, `p.${this.pluginName}.`);
    } catch {
      return null;
    }
  }

  /** Replace this plugin's `p.<plugin>.*` entries of the parent's URL hash. */
  writeUrlData(data) {
    if (!this.port) return false;
    try {
      const parentLocation = window.parent.location;
      const hash = withPluginEntries(parentLocation.hash, `p.${this.pluginName}.`, data);
      if (hash === parentLocation.hash.replace(/^#/, "")) return true;
      const url = new URL(parentLocation.href);
      url.hash = hash;
      window.parent.history.replaceState(window.parent.history.state, "", url.toString());
      return true;
    } catch {
      return false; // cross-origin parent: the iframe's own hash is the fallback
    }
  }
}

/** `#tab&k=v&...` with every `prefix*` key replaced by `prefix + key` of `data`. */
export function withPluginEntries(hash, prefix, data) {
  const parts = hash.replace(/^#/, "").split("&").filter(Boolean);
  const tab = parts.filter((part) => !part.includes("="));
  const kept = parts.filter((part) => {
    if (!part.includes("=")) return false;
    return !safeDecode(part.split("=")[0]).startsWith(prefix);
  });
  const ours = Object.entries(data).map(
    ([key, value]) => `${encodeURIComponent(prefix + key)}=${encodeURIComponent(value)}`,
  );
  return [...tab, ...kept, ...ours].join("&");
}

/** The `prefix*` entries of `#tab&k=v&...`, prefix stripped. */
export function pluginEntries(hash, prefix) {
  const entries = {};
  for (const part of hash.replace(/^#/, "").split("&")) {
    const [key, value, ...rest] = part.split("=");
    if (value === undefined || rest.length > 0) continue;
    const name = safeDecode(key);
    if (name.startsWith(prefix)) entries[name.slice(prefix.length)] = safeDecode(value);
  }
  return entries;
}

function safeDecode(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
