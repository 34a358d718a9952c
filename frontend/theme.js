// Light / dark: follow TensorBoard's own dark-mode toggle (the host page's
// body.dark-mode, readable because the iframe is same-origin); without a host,
// the stylesheet falls back to prefers-color-scheme.

export function followHostTheme(root) {
  let hostBody;
  try {
    if (window.parent === window) return;
    hostBody = window.parent.document.body;
  } catch {
    return;
  }
  const sync = () => {
    root.dataset.theme = hostBody.classList.contains("dark-mode") ? "dark" : "light";
  };
  sync();
  new window.parent.MutationObserver(sync).observe(hostBody, { attributes: true, attributeFilter: ["class"] });
}
