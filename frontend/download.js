// Save the visible view as one PNG: every canvas and caption drawn where it
// is laid out on screen.

function textOf(element) {
  return element.textContent.replace(/\s+/g, " ").trim();
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
  context.fillStyle = style.color || "black";
  context.textBaseline = "top";
  for (const caption of view.querySelectorAll("figcaption, h3, .probe-caption")) {
    const box = caption.getBoundingClientRect();
    if (box.width === 0) continue;
    const captionStyle = getComputedStyle(caption);
    context.font = `${captionStyle.fontWeight} ${captionStyle.fontSize} ${captionStyle.fontFamily}`;
    context.fillText(textOf(caption), box.left - origin.left, box.top - origin.top, box.width);
  }
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
