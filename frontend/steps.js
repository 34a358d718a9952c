// Logged steps: `[{ step, wallTime }, ...]` in ascending step order, as /steps serves them,
// and how the tab words a step: in the unit the run was logged in ("epoch 30", "batch 300").

import { STEP_UNITS, UNKNOWN_STEP_UNIT } from "./wording.js";

/** Index of the last step <= `step` (0 when none is; the last when `step` is null). */
export function stepIndexAtOrBefore(steps, step) {
  if (step === null || step === undefined) return steps.length - 1;
  let found = 0;
  steps.forEach((info, index) => { if (info.step <= step) found = index; });
  return found;
}

/** The last logged step <= `step`, or null when none is. */
export function stepAtOrBefore(steps, step) {
  return steps.filter((info) => info.step <= step).at(-1) ?? null;
}

const UNITS = new Set(STEP_UNITS);

/**
 * What a step counts: "epoch", "batch", or "step" where the log does not say.
 * `source`: a layer or an attribution of /runs (its `stepUnit`), or a run (the
 * unit its layers and attributions were logged in; kernels tags carry none).
 */
export function stepUnit(source) {
  if (UNITS.has(source?.stepUnit)) return source.stepUnit;
  const tags = [...(source?.layers ?? []), ...(source?.attributions ?? [])];
  return tags.map(({ stepUnit: unit }) => unit).find((unit) => UNITS.has(unit)) ?? UNKNOWN_STEP_UNIT;
}

/** A step as the training counts it: "epoch 12", "batch 300", or "step 12" where the log does not say. */
export function stepText(source, step) {
  return `${stepUnit(source)} ${step}`;
}

/** `stepText` at the start of a sentence: "Epoch 12". */
export function stepSentence(source, step) {
  const text = stepText(source, step);
  return text[0].toUpperCase() + text.slice(1);
}

/** What the steps count, for tooltips. */
export function stepMeaning(source) {
  const unit = stepUnit(source);
  if (unit === "epoch") return "Logged steps are epochs completed: epoch 0 is before training, epoch 12 after the 12th epoch.";
  if (unit === "batch") return "Logged steps are training batches completed (ActivationLogger update_freq=N): batch 0 is before training.";
  return "Logged steps, as TensorBoard counts them.";
}
