// The catalog: what the log dir holds (/runs: runs, their layers, kernels and
// attributions, and the tags that cannot be read) and each tag's logged steps
// (/steps, cached by the store). Read first from /first (which also brings the
// steps and blobs the first picture needs, handed to the store), then re-read
// from /runs while training goes on: every POLL_MS while the tab is visible,
// when it becomes visible, and when TensorBoard reloads its data.

import { fetchFirst, fetchRuns } from "./api.js";
import { DATA_RELOADED } from "./tb_bridge.js";

const POLL_MS = 20000;

export class Catalog {
  constructor(store) {
    this.store = store;
    this.runs = [];
    this.unreadable = [];
    this.polling = false;
  }

  /**
   * Reads the catalog: from `firstRequest` (an already started `fetch` of /first, see
   * index.js; its steps and blobs go to the store) if given and it answers, else from /runs.
   */
  async load(firstRequest = null) {
    if (firstRequest) {
      try {
        const first = await fetchFirst(firstRequest);
        ({ runs: this.runs, unreadable: this.unreadable } = first);
        this.store.adoptFirst(first);
        return;
      } catch (error) {
        console.warn("tb_actviz: /first failed, reading /runs:", error);
      }
    }
    ({ runs: this.runs, unreadable: this.unreadable } = await fetchRuns());
  }

  /** Logged steps of a tag, ascending ([{step, wallTime}]). */
  stepsOf(run, tag) {
    return this.store.stepsOf(run, tag);
  }

  /** Forget the step lists (and the series read with them) and re-read /runs. */
  reload() {
    this.store.forgetSteps();
    return this.load();
  }

  /**
   * Calls `poll()` (async) every POLL_MS while the page is visible, when it
   * becomes visible again and when TensorBoard reloads its data (`bridge`);
   * one poll at a time.
   */
  watch(bridge, poll) {
    const once = async () => {
      if (this.polling) return;
      this.polling = true;
      try {
        await poll();
      } finally {
        this.polling = false;
      }
    };
    setInterval(() => document.visibilityState === "visible" && once(), POLL_MS);
    document.addEventListener("visibilitychange", () => document.visibilityState === "visible" && once());
    bridge.on(DATA_RELOADED, () => once());
  }
}
