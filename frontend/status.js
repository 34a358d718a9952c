// The status line: the loading indicator (shown only when a load lasts), the
// error message, the note on tags that cannot be read, and the empty state.
// Tests read `#actviz-app[data-busy]`, kept here as loads start and end.

import { el } from "./dom.js";

const LOADING_DELAY_MS = 120;
const UNREADABLE_LISTED = 3;

export const EMPTY_LOG_DIR = "No activations in this log dir: add ActivationLogger to model.fit, then reload.";

/** What to tell about tags that cannot be read; `nothingElse`: no readable layer in the log dir. */
export function unreadableText(unreadable, nothingElse) {
  const newer = unreadable.filter(({ newerVersion }) => newerVersion !== null && newerVersion !== undefined);
  const count = (n) => `${n} tag${n === 1 ? "" : "s"}`;
  const upgrade = newer.length
    ? `${count(newer.length)} written by a newer tb_actviz (format version ${Math.max(...newer.map(({ newerVersion }) => newerVersion))}): upgrade tb_actviz (pip install --upgrade tb_actviz) and reload to see ${newer.length === 1 ? "it" : "them"}.`
    : "";
  const damaged = unreadable.filter((entry) => !newer.includes(entry));
  const listed = damaged.slice(0, UNREADABLE_LISTED).map(({ run, tag, reason }) => `${run} · ${tag}: ${reason}`);
  const more = damaged.length > UNREADABLE_LISTED ? ` (and ${damaged.length - UNREADABLE_LISTED} more)` : "";
  const broken = damaged.length ? `${count(damaged.length)} with damaged metadata: ${listed.join("; ")}${more}.` : "";
  const lead = nothingElse ? "No activations this tb_actviz can read in this log dir:" : "Not shown:";
  return [lead, upgrade, broken].filter(Boolean).join(" ");
}

export class StatusLine {
  /** `busyElement`: gets `data-busy="true|false"` as loads start and end. */
  constructor(busyElement) {
    this.busyElement = busyElement;
    this.pendingLoads = 0;
    this.loadingTimer = null;
    this.loading = el("span", { class: "loading", "data-testid": "loading", role: "status", "aria-live": "polite", hidden: true }, [el("span", { class: "spinner" }), "Loading…"]);
    this.message = el("div", { class: "message", "data-testid": "message", role: "alert", hidden: true });
    this.notice = el("div", { class: "hint notice", "data-testid": "unreadable-notice", role: "status", hidden: true });
    this.row = el("div", { class: "status-row" }, [this.loading, this.message, this.notice]);
    this.empty = el("div", { class: "empty-state", "data-testid": "empty-state", hidden: true });
  }

  /** A load starts (+1) or ends (-1); the indicator shows once one has lasted LOADING_DELAY_MS. */
  setLoading(delta) {
    this.pendingLoads += delta;
    clearTimeout(this.loadingTimer);
    if (this.pendingLoads <= 0) {
      this.loading.hidden = true;
      this.busyElement.dataset.busy = "false";
    } else {
      this.busyElement.dataset.busy = "true";
      this.loadingTimer = setTimeout(() => { this.loading.hidden = this.pendingLoads <= 0; }, LOADING_DELAY_MS);
    }
  }

  /** Runs `task()` (a Promise) as one load. */
  async whileLoading(task) {
    this.setLoading(1);
    try {
      return await task();
    } finally {
      this.setLoading(-1);
    }
  }

  showMessage(text) {
    this.message.textContent = text;
    this.message.hidden = false;
  }

  clearMessage() {
    this.message.hidden = true;
  }

  /** Says which tags are not shown because their metadata cannot be read (a newer tb_actviz, damage). */
  showUnreadable(unreadable) {
    this.notice.hidden = unreadable.length === 0;
    this.notice.textContent = unreadable.length ? unreadableText(unreadable, false) : "";
  }

  showEmpty(text) {
    this.empty.textContent = text;
    this.empty.hidden = false;
  }

  hideEmpty() {
    this.empty.hidden = true;
  }
}
