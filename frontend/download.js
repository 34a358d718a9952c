// Save the visible view as one PNG: every canvas and caption drawn where it
// is laid out on screen.

/** Visible text; caption parts (key, label) joined with " · " as CSS shows them. */
function textOf(element) {
  const parts = [...element.childNodes].map((node) => node.textContent.replace(/\s+/g, " ").trim()).filter(Boolean);
  return parts.join(element.matches("figcaption, .probe-caption") ? " · " : " ");
}

export function renderViewToCanvas(view) {
  const origin = view.getBoundingClientRect();
  const ratio = Math.min(2, window.devicePixelRatio || 1);
  const output = document.createElement("canvas");
  output.width = Math.ceil(view.scrollWidth * ratio);
  output.height = Math.ceil(view.scrollHeight * ratio);
  const context = output.getContext("2d");
  context.scale(ratio, ratio);
  const style = getComputedStyle(document.body);
  context.fillStyle = style.backgroundColor || "white";
  context.fillRect(0, 0, output.width, output.height);
  context.imageSmoothingEnabled = false;
  for (const canvas of view.querySelectorAll("canvas")) {
    const box = canvas.getBoundingClientRect();
    if (box.width === 0 || canvas.width === 0) continue;
    context.drawImage(canvas, box.left - origin.left, box.top - origin.top, box.width, box.height);
  }
  // Dead filters: the dashed outline and badge that CSS draws on screen.
  for (const tile of view.querySelectorAll('.tile[data-dead="true"]')) {
    const box = tile.getBoundingClientRect();
    if (box.width === 0) continue;
    const tileStyle = getComputedStyle(tile);
    const x = box.left - origin.left;
    const y = box.top - origin.top;
    context.strokeStyle = tileStyle.borderTopColor;
    context.lineWidth = 2;
    context.setLineDash([4, 3]);
    context.strokeRect(x + 1, y + 1, box.width - 2, box.height - 2);
    context.setLineDash([]);
    context.fillStyle = tileStyle.borderTopColor;
    context.fillRect(x + 6, y + 6, 30, 15);
    context.fillStyle = style.backgroundColor || "white";
    context.font = "600 10px sans-serif";
    context.textBaseline = "top";
    context.fillText("dead", x + 9, y + 8.5, 26);
  }
  // Non-finite values: the outline and "NaN/Inf ×k" badge that CSS draws on screen.
  for (const badge of view.querySelectorAll(".tile[data-nonfinite] > .tile-badge")) {
    const box = badge.getBoundingClientRect();
    if (box.width === 0) continue;
    const badgeStyle = getComputedStyle(badge);
    const canvas = badge.parentElement.querySelector("canvas.map");
    const mapBox = canvas?.getBoundingClientRect();
    if (mapBox?.width) {
      context.strokeStyle = badgeStyle.backgroundColor;
      context.lineWidth = 2;
      context.strokeRect(mapBox.left - origin.left + 1, mapBox.top - origin.top + 1, mapBox.width - 2, mapBox.height - 2);
    }
    context.fillStyle = badgeStyle.backgroundColor;
    context.fillRect(box.left - origin.left, box.top - origin.top, box.width, box.height);
    context.fillStyle = badgeStyle.color;
    context.font = `${badgeStyle.fontWeight} ${badgeStyle.fontSize} ${badgeStyle.fontFamily}`;
    context.textBaseline = "middle";
    context.fillText(badge.textContent, box.left - origin.left + 4, box.top - origin.top + box.height / 2, box.width - 6);
  }
  context.textBaseline = "top";
  // Captions made of spans (key, label, thumbnail) are drawn span by span, where each is laid out.
  const texts = "figcaption, h3, .probe-caption, .export-text, .filter-stats-table th, .filter-stats-table td, .top-caption > span, figcaption > span, .probe-caption > span";
  const spanned = (element) => element.matches("figcaption, .probe-caption") && element.querySelector(":scope > span");
  for (const caption of view.querySelectorAll(texts)) {
    const box = caption.getBoundingClientRect();
    if (box.width === 0 || spanned(caption)) continue;
    const captionStyle = getComputedStyle(caption);
    context.fillStyle = captionStyle.color || style.color || "black";
    context.font = `${captionStyle.fontWeight} ${captionStyle.fontSize} ${captionStyle.fontFamily}`;
    const right = captionStyle.textAlign === "right";
    context.textAlign = right ? "right" : "left";
    context.fillText(textOf(caption), (right ? box.right : box.left) - origin.left, box.top - origin.top, box.width);
  }
  context.textAlign = "left";
  return output;
}

export function downloadViewPng(view, filename) {
  renderViewToCanvas(view).toBlob((blob) => {
    if (!blob) return;
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = filename;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  }, "image/png");
}
