// Logged steps: `[{ step, wallTime }, ...]` in ascending step order, as /steps serves them.

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
