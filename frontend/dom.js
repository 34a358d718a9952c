// Tiny DOM builder. Text always goes through textContent / text nodes, never HTML.

export function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "style") Object.assign(node.style, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

/** Replace a <select>'s options with [{value, label}] and select `selected`. */
export function setOptions(select, options, selected) {
  const signature = JSON.stringify(options);
  if (select.dataset.optionsSignature !== signature) {
    select.replaceChildren(
      ...options.map(({ value, label }) => el("option", { value: String(value), text: label })),
    );
    select.dataset.optionsSignature = signature;
  }
  select.value = String(selected);
}

/** A labelled control: <label for=id>text</label> followed by the control. */
export function labelled(text, control) {
  return el("div", { class: "field" }, [el("label", { for: control.id, text }), control]);
}

/**
 * Text that wraps between phrases, not inside them: each phrase (a string, or a
 * node such as another `phrases`) is an inline block (CSS `.phrase`), so a line
 * breaks inside one only where it alone is wider than the line. `separator`
 * goes between phrases; other props go on the outer span. Text only, never HTML.
 */
export function phrases(parts, { separator = " ", class: className = "", ...props } = {}) {
  const children = [];
  for (const part of parts) {
    if (part === null || part === undefined || part === "") continue;
    if (children.length > 0) children.push(separator);
    const node = typeof part === "string" ? el("span", { text: part }) : part;
    node.classList.add("phrase");
    children.push(node);
  }
  return el("span", { ...props, class: ["phrases", className].filter(Boolean).join(" ") }, children);
}
