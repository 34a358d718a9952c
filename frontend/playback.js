// Playback over training: one logged step back or forward, the first or last,
// Play / Pause (one step every PLAY_INTERVAL_MS, from the first step when at
// the last), and the keys (ArrowLeft / ArrowRight, Home / End) while the focus
// is outside form controls.

const PLAY_INTERVAL_MS = 350;

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class Playback {
  /**
   * current(): the shown context ({steps, stepIndex}) or null;
   * goTo(step): show that logged step, resolves once shown;
   * onPlaying(playing): Play was toggled.
   */
  constructor({ current, goTo, onPlaying }) {
    this.current = current;
    this.goTo = goTo;
    this.onPlaying = onPlaying;
    this.playing = false;
  }

  /** `delta` logged steps from the shown one, within the logged steps. */
  stepBy(delta) {
    const ctx = this.current();
    if (!ctx) return Promise.resolve();
    const index = Math.min(ctx.steps.length - 1, Math.max(0, ctx.stepIndex + delta));
    return this.goTo(ctx.steps[index].step);
  }

  /** The "first" or "last" logged step. */
  stepTo(which) {
    const ctx = this.current();
    if (!ctx) return Promise.resolve();
    return this.goTo((which === "first" ? ctx.steps[0] : ctx.steps.at(-1)).step);
  }

  toggle() {
    this.playing = !this.playing;
    this.onPlaying(this.playing);
    if (this.playing) this.loop();
  }

  async loop() {
    const ctx = this.current();
    if (ctx && ctx.stepIndex >= ctx.steps.length - 1) await this.goTo(ctx.steps[0].step);
    while (this.playing) {
      await delay(PLAY_INTERVAL_MS);
      const { stepIndex, steps } = this.current() ?? {};
      if (!this.playing) break;
      if (steps === undefined || stepIndex >= steps.length - 1) {
        this.toggle();
        break;
      }
      await this.stepBy(1);
    }
  }

  /** The step keys on `target` (the document), outside inputs, selects, text areas and dialogs. */
  listenForKeys(target = document) {
    const actions = { ArrowLeft: () => this.stepBy(-1), ArrowRight: () => this.stepBy(1), Home: () => this.stepTo("first"), End: () => this.stepTo("last") };
    target.addEventListener("keydown", (event) => {
      if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
      if (event.target.closest?.("input, select, textarea, dialog")) return;
      const action = actions[event.key];
      if (!action) return;
      event.preventDefault();
      action();
    });
  }
}
