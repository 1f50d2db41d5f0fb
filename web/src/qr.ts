// An EMVCo payload (VietQR/MoMo) as QR modules, drawn as one SVG path: crisp at any
// size, built with DOM attributes only (never markup from the payload).

import qrcode from "qrcode-generator";

/** UTF-8, as payment apps read byte-mode QR payloads (the library's default is Latin-1). */
qrcode.stringToBytes = (text: string): number[] => Array.from(new TextEncoder().encode(text));

export interface QRPath {
  /** Modules per side, the 4-module quiet zone included. */
  size: number;
  /** One `M x y h1 v1 h-1 z` square per dark module, merged along rows. */
  d: string;
}

export const QUIET_ZONE = 4;

/** The QR of `text` at error correction level M (as VietQR issuers use), smallest version. */
export function qrPath(text: string): QRPath {
  const qr = qrcode(0, "M");
  qr.addData(text, "Byte");
  qr.make();
  const count = qr.getModuleCount();
  const parts: string[] = [];
  for (let row = 0; row < count; row += 1) {
    let col = 0;
    while (col < count) {
      if (!qr.isDark(row, col)) {
        col += 1;
        continue;
      }
      const start = col;
      while (col < count && qr.isDark(row, col)) col += 1;
      parts.push(`M${start + QUIET_ZONE} ${row + QUIET_ZONE}h${col - start}v1h${start - col}z`);
    }
  }
  return { size: count + 2 * QUIET_ZONE, d: parts.join("") };
}
