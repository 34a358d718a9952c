// Entry module: TensorBoard does `import("./index.js").then(m => m.render())`
// from a document whose <base href> is `plugin/activations/`.
import { startApp } from "./static/app.js";

function addStylesheet(href) {
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = href;
  document.head.append(link);
}

export function render() {
  addStylesheet("static/style.css");
  startApp(document.body);
}
