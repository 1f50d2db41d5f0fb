// Test fixtures: real QR PNGs (EMVCo payloads with a valid CRC, made with the
// `qrcode` package) and the MoMo-shaped checkout page with order A's QR inline as a
// PNG data URI, as MoMo's page has it; and the generic capture's pages
// (capture-fixtures.mjs). Run once; the outputs are committed.
// Usage: node scripts/make-fixtures.mjs

import QRCode from "qrcode";
import { readFileSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { makeCaptureFixtures } from "./capture-fixtures.mjs";

const dir = new URL("../test/fixtures/", import.meta.url);

function tlv(id, value) {
  return `${id}${String(value.length).padStart(2, "0")}${value}`;
}

/** CRC-16/CCITT-FALSE, as EMVCo tag 63 uses. */
export function crc16(text) {
  let crc = 0xffff;
  for (const byte of Buffer.from(text, "utf8")) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc.toString(16).toUpperCase().padStart(4, "0");
}

export function emv(amount, name, order) {
  const body =
    tlv("00", "01") +
    tlv("01", "12") +
    tlv("38", tlv("00", "A000000727") + tlv("01", tlv("00", "970454") + tlv("01", "0123456789")) + tlv("02", "QRIBFTTA")) +
    tlv("53", "704") +
    tlv("54", String(amount)) +
    tlv("58", "VN") +
    tlv("59", name) +
    tlv("60", "HA NOI") +
    tlv("62", tlv("08", order)) +
    "6304";
  return body + crc16(body);
}

async function main() {
  const ORDERS = {
    a: [300000, "CUA HANG AN", "A-1024"],
    b: [150000, "QUAN BINH", "B-2048"],
    c: [450000, "CUA HANG AN", "A-1025"],
  };

  for (const [name, [amount, merchant, order]] of Object.entries(ORDERS)) {
    const png = await QRCode.toBuffer(emv(amount, merchant, order), {
      type: "png",
      errorCorrectionLevel: "M",
      margin: 2,
      scale: 4,
    });
    writeFileSync(new URL(`qr-${name}.png`, dir), png);
  }

  const template = readFileSync(new URL("momo-checkout.template.html", dir), "utf8");
  const qrA = "data:image/png;base64," + readFileSync(new URL("qr-a.png", dir)).toString("base64");
  writeFileSync(new URL("momo-checkout.html", dir), template.replace("{{QR_A}}", qrA));
  await makeCaptureFixtures();
  console.log("fixtures written to test/fixtures/ and test/fixtures/capture/");
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await main();
