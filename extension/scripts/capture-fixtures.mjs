// Fixture checkout pages for the generic capture (tests/test_e2e_capture.py): shops'
// own pages of different layouts, each showing real-format payment payloads
// (test/fixtures/vietqr-vectors.json, plus a few built here) the way real pages do: a
// bank VietQR as a PNG <img>, a MoMo code drawn on a <canvas> with a logo over it, a
// VNPay code as inline SVG, two codes on one page (one a CSS background image), a login
// QR that is not a payment code, a static code without amount, a damaged code, and a
// point-of-sale page whose code changes with each order. Written to
// test/fixtures/capture/ by `npm run fixtures`; payloads.json says which payload each
// page shows, for the tests to compare with what viewers receive.

import QRCode from "qrcode";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { addNoise, renderQr, toPng } from "./qrimage.mjs";

const FIXTURES = new URL("../test/fixtures/", import.meta.url);
const OUT = new URL("capture/", FIXTURES);

function tlv(id, value) {
  return `${id}${String(value.length).padStart(2, "0")}${value}`;
}

/** CRC-16/CCITT-FALSE, as EMVCo tag 63 uses. */
function crc16(text) {
  let crc = 0xffff;
  for (const byte of Buffer.from(text, "utf8")) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc.toString(16).toUpperCase().padStart(4, "0");
}

/** A VietQR payload to `bin`/`account` (dynamic when it has an amount). */
function vietqr({ bin, account, amount, name, bill, purpose }) {
  const body =
    tlv("00", "01") +
    tlv("01", amount ? "12" : "11") +
    tlv("38", tlv("00", "A000000727") + tlv("01", tlv("00", bin) + tlv("01", account)) + tlv("02", "QRIBFTTA")) +
    tlv("53", "704") +
    (amount ? tlv("54", String(amount)) : "") +
    tlv("58", "VN") +
    (name ? tlv("59", name) : "") +
    (bill || purpose ? tlv("62", (bill ? tlv("01", bill) : "") + (purpose ? tlv("08", purpose) : "")) : "") +
    "6304";
  return body + crc16(body);
}

function vector(prefix) {
  const vectors = JSON.parse(readFileSync(new URL("vietqr-vectors.json", FIXTURES), "utf8")).vectors;
  return vectors.find((v) => v.name.startsWith(prefix)).payload;
}

export const PAYLOADS = {
  bank: vector("dynamic VietQR to a Vietcombank account"),
  momo: vector("MoMo QR đa năng"),
  vnpay: vector("VNPay-QR"),
  zalopay: vietqr({ bin: "970454", account: "99ZP24123A56781234", amount: 95000, purpose: "Don hang Z-77" }),
  static: vector("static VietQR"),
  badcrc: vector("a wrong CRC"),
  login: "https://shop.example/login?session=4f1c9a2b",
  pos1: vietqr({ bin: "970416", account: "4455667788", amount: 120000, name: "CUA HANG AN", bill: "A-2001" }),
  pos2: vietqr({ bin: "970416", account: "4455667788", amount: 185000, name: "CUA HANG AN", bill: "A-2002" }),
};

const png = (text, options = {}) =>
  QRCode.toBuffer(text, { type: "png", errorCorrectionLevel: "M", margin: 4, scale: 6, ...options });

function page(title, body, { head = "", siteName = "" } = {}) {
  return `<!DOCTYPE html>
<html lang="vi">
<head>
  <meta charset="UTF-8">
  <title>${title}</title>
  ${siteName ? `<meta property="og:site_name" content="${siteName}">` : ""}
  <!-- A test fixture made by extension/scripts/capture-fixtures.mjs: a shop's own page, no adapter for it. -->
  <style>
    body { font-family: Arial, sans-serif; margin: 0; background: #fafafa; color: #222; }
    main { max-width: 860px; margin: 24px auto; background: #fff; padding: 20px 28px; border-radius: 10px; }
    .row { display: flex; gap: 28px; align-items: flex-start; flex-wrap: wrap; }
    .total { font-size: 22px; font-weight: bold; color: #0b6b3a; }
    figure { margin: 0; text-align: center; }
    figcaption { font-size: 13px; color: #666; }
  </style>
  ${head}
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}

export async function makeCaptureFixtures() {
  mkdirSync(OUT, { recursive: true });
  const write = (name, data) => writeFileSync(new URL(name, OUT), data);

  // 1. A shop's checkout with a bank-transfer VietQR as a PNG <img> (same-origin URL),
  //    beside a product photo and a small logo that are not codes.
  write("bank-vietqr.png", await png(PAYLOADS.bank));
  write("product.png", toPng(addNoise(renderQr("not shown", { moduleSize: 0.5, fg: [200, 160, 120], bg: [230, 200, 170] }), 60, 5)));
  write("logo.png", toPng(renderQr("logo", { moduleSize: 0.4 })));
  write(
    "bank.html",
    page(
      "Cửa hàng An – Thanh toán đơn HD2048",
      `<h1><img src="logo.png" width="28" height="28" alt=""> Cửa hàng An</h1>
<div class="row">
  <div><img src="product.png" width="160" height="160" alt="Áo thun"><p>Áo thun × 2</p></div>
  <div>
    <p>Đơn hàng HD2048</p><p class="total">Tổng: 250.000đ</p>
    <p>Chuyển khoản bằng ứng dụng ngân hàng: quét mã bên cạnh.</p>
  </div>
  <figure><img id="qr" src="bank-vietqr.png" width="260" height="260" alt="VietQR chuyển khoản Vietcombank"></figure>
</div>`,
      { siteName: "Cửa hàng An" },
    ),
  );

  // 2. A marketplace page drawing a MoMo "QR đa năng" on a <canvas> (module by module,
  //    as QR libraries do), with MoMo's logo over the centre (error correction H).
  const momo = QRCode.create(PAYLOADS.momo, { errorCorrectionLevel: "H" }).modules;
  const rows = [];
  for (let r = 0; r < momo.size; r++) {
    let row = "";
    for (let c = 0; c < momo.size; c++) row += momo.get(r, c) ? "1" : "0";
    rows.push(row);
  }
  write(
    "momo-canvas.html",
    page(
      "Chợ Online – Thanh toán qua Ví MoMo",
      `<h1>Chợ Online</h1>
<div class="row">
  <div><p>Người bán: Quán Bình</p><p class="total">150.000 ₫</p><p>Mở ứng dụng MoMo và quét mã.</p></div>
  <canvas id="qr" width="300" height="300" aria-label="Mã QR MoMo"></canvas>
</div>
<script>
  (function () {
    var rows = ${JSON.stringify(rows)};
    var canvas = document.getElementById("qr");
    var ctx = canvas.getContext("2d");
    var quiet = 4, scale = Math.floor(canvas.width / (rows.length + 2 * quiet));
    var offset = Math.floor((canvas.width - rows.length * scale) / 2);
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.fillStyle = "#a50064";
    rows.forEach(function (row, r) {
      for (var c = 0; c < row.length; c++) if (row[c] === "1") ctx.fillRect(offset + c * scale, offset + r * scale, scale, scale);
    });
    var logo = Math.round(rows.length * scale * 0.2), at = Math.round((canvas.width - logo) / 2);
    ctx.fillStyle = "#fff"; ctx.fillRect(at - 4, at - 4, logo + 8, logo + 8);
    ctx.fillStyle = "#a50064"; ctx.fillRect(at, at, logo, logo);
    ctx.fillStyle = "#fff"; ctx.font = "bold " + Math.round(logo / 3) + "px Arial"; ctx.fillText("mo", at + logo / 5, at + logo / 1.6);
  })();
</script>`,
    ),
  );

  // 3. A POS page showing a VNPay-QR as inline SVG (a decimal amount: 89000.00), its
  //    dark modules coloured by the page's stylesheet rather than in the markup.
  const svg = (await QRCode.toString(PAYLOADS.vnpay, { type: "svg", margin: 3, errorCorrectionLevel: "M" })).replace(
    'stroke="#000000"',
    'class="qr-dark"',
  );
  write(
    "vnpay-svg.html",
    page(
      "Siêu thị Minh – Quầy 1",
      `<h1>Siêu thị Minh</h1>
<div class="row">
  <div><p>Hóa đơn INV778</p><p class="total">89.000 ₫</p><p>Quét mã VNPAY-QR bằng ứng dụng ngân hàng.</p></div>
  <div id="qr" style="width:240px;height:240px">${svg.replace("<svg ", '<svg width="240" height="240" ')}</div>
</div>`,
      { head: "<style>.qr-dark { stroke: #0d2b6b; }</style>" },
    ),
  );

  // 4. Two payment codes: a bank VietQR (PNG data: URI) and a ZaloPay "QR đa năng" as a
  //    CSS background image; the ZaloPay code has no merchant name (tag 59).
  const bankUri = `data:image/png;base64,${(await png(PAYLOADS.bank, { scale: 4 })).toString("base64")}`;
  write("zalopay.png", await png(PAYLOADS.zalopay, { scale: 5 }));
  write(
    "two-codes.html",
    page(
      "Tiệm Hoa Lan – Thanh toán",
      `<h1>Tiệm Hoa Lan</h1>
<p>Chọn cách thanh toán:</p>
<div class="row">
  <figure><img src="${bankUri}" width="220" height="220" alt=""><figcaption>Chuyển khoản ngân hàng</figcaption></figure>
  <figure><div role="img" aria-label="ZaloPay" style="width:220px;height:220px;background:url(zalopay.png) center/contain no-repeat"></div><figcaption>Ví ZaloPay</figcaption></figure>
</div>`,
      { siteName: "Tiệm Hoa Lan" },
    ),
  );

  // 5. A login page whose QR is a link, not a payment.
  write("login-qr.png", await png(PAYLOADS.login, { scale: 5 }));
  write(
    "login.html",
    page("Đăng nhập", `<h1>Đăng nhập bằng ứng dụng</h1><img src="login-qr.png" width="200" height="200" alt="Mã đăng nhập">`),
  );

  // 6. A static VietQR (no amount, no merchant name): the amount is typed in the popup,
  //    the merchant is the page's own name.
  write("static-vietqr.png", await png(PAYLOADS.static, { scale: 5 }));
  write(
    "static.html",
    page(
      "Tiệm Bánh Mì Hòa",
      `<h1>Tiệm Bánh Mì Hòa</h1><p>Quét mã để chuyển khoản, nhập số tiền theo hóa đơn.</p>
<img src="static-vietqr.png" width="220" height="220" alt="Mã QR cửa hàng">`,
      { siteName: "Tiệm Bánh Mì Hòa" },
    ),
  );

  // 7. A damaged code: its payload's CRC does not match.
  write("bad-crc.png", await png(PAYLOADS.badcrc, { scale: 5 }));
  write("bad-crc.html", page("Thanh toán", `<h1>Thanh toán</h1><img src="bad-crc.png" width="240" height="240" alt="VietQR">`));

  // 8. A point-of-sale screen: each new order replaces the code (window.pos.next()).
  write("pos-1.png", await png(PAYLOADS.pos1, { scale: 5 }));
  write("pos-2.png", await png(PAYLOADS.pos2, { scale: 5 }));
  write(
    "pos.html",
    page(
      "Quầy thu ngân – Cửa hàng An",
      `<h1>Quầy 2</h1><p id="order">Đơn A-2001 · 120.000 ₫</p>
<img id="qr" src="pos-1.png" width="240" height="240" alt="VietQR">`,
      {
        head: `<script>
  // The next order: its code replaces the last one. Resolves once the new picture has loaded.
  window.pos = { next: function () {
    document.getElementById("order").textContent = "Đơn A-2002 · 185.000 ₫";
    var img = document.getElementById("qr");
    return new Promise(function (loaded) { img.onload = loaded; img.src = "pos-2.png"; });
  } };
</script>`,
      },
    ),
  );

  write("payloads.json", JSON.stringify(PAYLOADS, null, 1) + "\n");
}
