// The viewer link as a QR code on a <canvas>, for a phone to scan from the popup.

import qrcode from "qrcode-generator";

/** Draws `text` as a QR code (quiet zone of 4 modules) filling the canvas. */
export function drawQr(canvas: HTMLCanvasElement, text: string): void {
  const qr = qrcode(0, "M");
  qr.addData(text);
  qr.make();
  const modules = qr.getModuleCount();
  const size = modules + 8;
  const scale = Math.max(2, Math.floor(260 / size));
  canvas.width = canvas.height = size * scale;
  const context = canvas.getContext("2d");
  if (!context) return;
  context.fillStyle = "#fff";
  context.fillRect(0, 0, canvas.width, canvas.height);
  context.fillStyle = "#000";
  for (let row = 0; row < modules; row++) {
    for (let col = 0; col < modules; col++) {
      if (qr.isDark(row, col)) context.fillRect((col + 4) * scale, (row + 4) * scale, scale, scale);
    }
  }
  canvas.dataset["text"] = text;
}

