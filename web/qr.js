// @ts-check
// QR code of a room link, drawn locally on a canvas: the link never leaves the page to be encoded.
import qrcode from './vendor/qrcode.mjs';

/**
 * Draws `text` as a QR code onto a new canvas.
 * @param {string} text
 * @param {number} size CSS pixels of the square canvas.
 * @returns {HTMLCanvasElement}
 */
export function qrCanvas(text, size = 200) {
  const code = qrcode(0, 'M');
  code.addData(text, 'Byte');
  code.make();
  const count = code.getModuleCount();
  const quiet = 2;
  const cells = count + quiet * 2;
  const scale = Math.max(2, Math.floor((size * 2) / cells));
  const canvas = document.createElement('canvas');
  canvas.width = cells * scale;
  canvas.height = cells * scale;
  canvas.className = 'qr';
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', 'QR code of the room link');
  const context = canvas.getContext('2d');
  context.fillStyle = '#ffffff';
  context.fillRect(0, 0, canvas.width, canvas.height);
  context.fillStyle = '#000000';
  for (let row = 0; row < count; row += 1) {
    for (let col = 0; col < count; col += 1) {
      if (code.isDark(row, col)) context.fillRect((col + quiet) * scale, (row + quiet) * scale, scale, scale);
    }
  }
  return canvas;
}
