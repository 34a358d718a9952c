// The catalog: what the log dir holds (/runs: runs, their layers, kernels and
// attributions, and the tags that cannot be read) and each tag's logged steps
// (/steps, cached by the store). Re-read while training goes on: every POLL_MS
// while the tab is visible, when it becomes visible, and when TensorBoard
// reloads its data.

import { fetchRuns } from "./api.js";
import { DATA_RELOADED } from "./tb_bridge.js";

const POLL_MS = 20000;

export class Catalog {
  constructor(store) {
    this.store = store;
    this.runs = [];
    this.unreadable = [];
    this.polling = false;
  }

  /** Reads /runs; `request`: an already started `fetch("runs")` to adopt (see index.js). */
  async load(request = null) {
    ({ runs: this.runs, unreadable: this.unreadable } = await fetchRuns(request));
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
