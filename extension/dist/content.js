"use strict";
(() => {
  // src/shared/amount.ts
  var CURRENCY = String.raw`(?:đồng|vnđ|vnd|đ|₫)`;
  var NUMBER = String.raw`(?<![\d.,])(\d(?:[\d.,\u00a0\u202f]*\d)?)(?![\d])`;
  var TAGGED = new RegExp(
    String.raw`${NUMBER}\s*${CURRENCY}(?![\p{L}\p{N}])|(?<![\p{L}])${CURRENCY}\s*${NUMBER}`,
    "iu"
  );
  var BARE = new RegExp(String.raw`^${NUMBER}$`, "u");
  function toInteger(number) {
    if (number === void 0) return null;
    let body = number;
    const minor = /([.,])0{1,2}$/.exec(body);
    if (minor) {
      body = body.slice(0, -minor[0].length);
      const grouped = /\D/.exec(body)?.[0];
      if (grouped === minor[1] || grouped === void 0 && minor[1] === ".") return null;
    }
    const sep = /\D/.exec(body)?.[0];
    if (sep !== void 0) {
      const groups = body.split(sep);
      const [head, ...rest] = groups;
      if (!head || head.length > 3 || rest.some((g) => !/^\d{3}$/.test(g))) return null;
    } else if (!/^\d+$/.test(body)) {
      return null;
    }
    const value = Number(body.replace(/\D/g, ""));
    return Number.isSafeInteger(value) && value > 0 ? value : null;
  }
  function parseVndAmount(text) {
    if (!text) return null;
    const clean = text.normalize("NFC").replace(/[\u200b-\u200d\u2060\ufeff]/g, "").trim();
    const tagged = TAGGED.exec(clean);
    if (tagged) return toInteger(tagged[1] ?? tagged[2]);
    return toInteger(BARE.exec(clean)?.[1]);
  }

  // src/adapters/_dom.ts
  function textOf(el) {
    if (!el) return "";
    const raw = el.innerText ?? el.textContent ?? "";
    return raw.replace(/\s+/g, " ").trim();
  }
  function isShown(el) {
    if (!el) return false;
    const html = el;
    if (html.hidden || html.closest("[hidden]")) return false;
    const view = el.ownerDocument.defaultView;
    for (let node = el; node; node = node.parentElement) {
      const style = view?.getComputedStyle(node);
      if (style && (style.display === "none" || style.visibility === "hidden")) return false;
    }
    return true;
  }
  function labelledValue(root, boxSelector, labelSelector, label, valueSelector) {
    const wanted = fold(label);
    for (const box of Array.from(root.querySelectorAll(boxSelector))) {
      const labelEl = box.querySelector(labelSelector);
      if (!labelEl || !fold(textOf(labelEl)).includes(wanted)) continue;
      const value = box.querySelector(valueSelector);
      const text = textOf(value);
      if (text) return text;
    }
    return null;
  }
  function fold(text) {
    return text.normalize("NFD").replace(new RegExp("\\p{M}", "gu"), "").replace(/đ/g, "d").replace(/Đ/g, "D").toLowerCase().replace(/\s+/g, " ").trim();
  }
  function parseCountdown(text) {
    const match = /(?:(\d{1,2})\s*:\s*)?(\d{1,2})\s*:\s*(\d{2})(?!\d)/.exec(text);
    if (!match) return null;
    const [, h, m, s] = match;
    const seconds = Number(h ?? 0) * 3600 + Number(m) * 60 + Number(s);
    return Number(s) < 60 ? seconds : null;
  }

  // src/adapters/momo.ts
  var QR_SELECTORS = [
    "img.image-qr-code",
    'img[alt="paymentcode"]',
    ".qr-code img",
    ".qr-code canvas",
    "canvas.qr-code",
    "#qrcode canvas",
    "#qrcode img"
  ];
  var BOX = ".box-detail";
  var LABEL = "h4, .label, dt";
  var VALUE = "h3, p, dd, .value";
  function meta(doc) {
    const content = doc.querySelector('meta[property="og:description"]')?.getAttribute("content");
    return content?.replace(/\s+/g, " ").trim() ?? "";
  }
  function fromMeta(doc, label) {
    const text = meta(doc).normalize("NFC");
    const escaped = label.normalize("NFC").replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    const match = new RegExp(`${escaped}\\s*:\\s*`, "iu").exec(text);
    if (!match) return null;
    const rest = text.slice(match.index + match[0].length);
    const value = rest.split(new RegExp("\\.\\s+(?=\\p{Lu}[^:.]{0,30}:)", "u"))[0]?.trim().replace(/\.$/, "");
    return value || null;
  }
  function findQr(doc) {
    for (const selector of QR_SELECTORS) {
      for (const el of Array.from(doc.querySelectorAll(selector))) {
        if (!isShown(el)) continue;
        if (el.tagName === "IMG" && el.getAttribute("src")) return el;
        if (el.tagName === "CANVAS" && el.width > 0) return el;
      }
    }
    return null;
  }
  function countdown(doc) {
    const box = doc.querySelector('[name="expiredAt"]');
    if (box) {
      const parts = Array.from(box.querySelectorAll(".time-box"), (el) => textOf(el));
      if (parts.length >= 2 && parts.every((p) => /^\d{1,2}$/.test(p))) {
        const [m, s] = parts.slice(-2).map(Number);
        const h = parts.length >= 3 ? Number(parts[parts.length - 3]) : 0;
        return h * 3600 + m * 60 + s;
      }
      const seconds = parseCountdown(textOf(box));
      if (seconds !== null) return seconds;
    }
    for (const el of Array.from(doc.querySelectorAll("p, div, span"))) {
      const text = textOf(el);
      if (text.length < 80 && fold(text).includes("het han sau")) {
        const seconds = parseCountdown(text) ?? parseCountdown(textOf(el.parentElement));
        if (seconds !== null) return seconds;
      }
    }
    return null;
  }
  var PAID = /(thanh toan|giao dich) thanh cong|payment (successful|succeeded|completed)/;
  var CANCELLED = /(giao dich|don hang|thanh toan) da (bi )?huy|giao dich (that bai|khong thanh cong)|(payment|transaction|order) (was )?(cancelled|canceled|failed)/;
  var EXPIRED = /(giao dich|don hang|ma qr|ma thanh toan|phien thanh toan) da het han|het thoi gian thanh toan|(payment|order|qr code) (has )?expired/;
  var adapter = {
    id: "momo",
    name: "MoMo payment page",
    matches: ["https://payment.momo.vn/*", "https://test-payment.momo.vn/*"],
    detect(doc) {
      return Boolean(
        findQr(doc) || doc.querySelector(`${BOX}, .merchant-name, [name="expiredAt"]`) || meta(doc)
      );
    },
    extract(doc) {
      const qr = findQr(doc);
      if (!qr) return null;
      const merchant = textOf(doc.querySelector(".merchant-name")) || labelledValue(doc, BOX, LABEL, "Nhà cung cấp", VALUE) || fromMeta(doc, "Nhà cung cấp");
      const amount = parseVndAmount(labelledValue(doc, BOX, LABEL, "Số tiền", VALUE)) ?? parseVndAmount(fromMeta(doc, "Số tiền"));
      if (!merchant || amount === null) return null;
      const capture = { qr, merchant, amount };
      const orderId = labelledValue(doc, BOX, LABEL, "Mã đơn hàng", VALUE) ?? fromMeta(doc, "Mã đơn hàng");
      if (orderId) capture.orderId = orderId;
      const description = labelledValue(doc, BOX, LABEL, "Mô tả", VALUE) ?? fromMeta(doc, "Mô tả");
      if (description) capture.description = description;
      const seconds = countdown(doc);
      if (seconds !== null) capture.expiresInSeconds = seconds;
      const deeplink = doc.querySelector('a[href^="momo://"]')?.getAttribute("href");
      if (deeplink) capture.deeplink = deeplink;
      return capture;
    },
    status(doc) {
      const text = fold(textOf(doc.body));
      if (PAID.test(text)) return "paid";
      if (CANCELLED.test(text)) return "cancelled";
      if (EXPIRED.test(text)) return "expired";
      if (countdown(doc) === 0) return "expired";
      return "pending";
    }
  };

  // adapters:virtual:adapters
  var virtual_adapters_default = [adapter];

  // src/shared/types.ts
  var GENERIC = "generic";
  var CAPTURE_PORT = "capture";

  // src/shared/match.ts
  function escape(text) {
    return text.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
  }
  function matchPattern(pattern, url) {
    const parts = /^(https?|\*):\/\/(\*|\*\.[^/*]+|[^/*]+)(\/.*)$/.exec(pattern);
    if (!parts) return false;
    const [, scheme, host, path] = parts;
    let parsed;
    try {
      parsed = new URL(url);
    } catch {
      return false;
    }
    const protocol = parsed.protocol.slice(0, -1);
    if (scheme === "*" ? !["http", "https"].includes(protocol) : protocol !== scheme) return false;
    const hostname = parsed.hostname;
    if (host !== "*") {
      if (host.startsWith("*.")) {
        const base = host.slice(2);
        if (hostname !== base && !hostname.endsWith(`.${base}`)) return false;
      } else if (hostname !== host.replace(/:\d+$/, "")) {
        return false;
      }
    }
    const pathRe = new RegExp(`^${path.split("*").map(escape).join(".*")}$`);
    return pathRe.test(parsed.pathname + parsed.search);
  }

  // src/shared/hash.ts
  function canonicalJson(value) {
    if (value === null || typeof value !== "object") return JSON.stringify(value);
    if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
    const entries = Object.entries(value).filter(([, v]) => v !== void 0).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0);
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }

  // src/content/capture.ts
  var MAX_QR_BYTES = 262144;
  var PNG_PREFIX = "data:image/png;base64,";
  var ORDER_ID = /^[A-Za-z0-9_.:-]{1,64}$/;
  var EXPIRY_SLACK_MS = 5e3;
  var CaptureError = class extends Error {
    /** `later`: the page is not ready yet (an image still loading); read it again later. */
    constructor(message, later = false) {
      super(message);
      this.later = later;
      this.name = "CaptureError";
    }
    later;
  };
  function cleanText(text, max) {
    const cleaned = text.normalize("NFC").replace(/[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Cs}]/gu, " ").replace(/\s+/g, " ").trim();
    const chars = Array.from(cleaned);
    return chars.length <= max ? cleaned : chars.slice(0, max).join("").trim();
  }
  function dataUriBytes(uri) {
    const b64 = uri.slice(uri.indexOf(",") + 1);
    const padding = b64.endsWith("==") ? 2 : b64.endsWith("=") ? 1 : 0;
    return Math.floor(b64.length * 3 / 4) - padding;
  }
  function qrCodeOf(qr) {
    let uri;
    if (typeof qr === "string") {
      uri = qr.trim();
      if (!uri.startsWith("data:")) return uri;
    } else if (qr.tagName === "CANVAS") {
      uri = exportCanvas(qr);
    } else {
      const img = qr;
      const src = img.getAttribute("src") ?? "";
      if (src.startsWith(PNG_PREFIX)) {
        uri = src;
      } else {
        if (!img.complete || img.naturalWidth === 0) throw new CaptureError("The QR image has not loaded yet", true);
        const canvas = img.ownerDocument.createElement("canvas");
        canvas.width = img.naturalWidth;
        canvas.height = img.naturalHeight;
        const context = canvas.getContext("2d");
        if (!context) throw new CaptureError("Could not draw the QR image to export it as PNG");
        context.drawImage(img, 0, 0);
        uri = exportCanvas(canvas);
      }
    }
    if (!uri.startsWith(PNG_PREFIX)) throw new CaptureError("The QR image is not a PNG and could not be converted");
    if (dataUriBytes(uri) > MAX_QR_BYTES) {
      throw new CaptureError(`The QR image is larger than ${MAX_QR_BYTES} bytes, the gateway's limit`);
    }
    return uri;
  }
  function exportCanvas(canvas) {
    try {
      return canvas.toDataURL("image/png");
    } catch {
      throw new CaptureError("The QR image comes from another site and cannot be read by the extension");
    }
  }
  var ExpiryClock = class {
    last = null;
    at(secondsLeft, now) {
      if (secondsLeft === void 0) {
        this.last = null;
        return void 0;
      }
      const estimate = now + secondsLeft * 1e3;
      if (this.last === null || Math.abs(estimate - this.last) > EXPIRY_SLACK_MS) {
        this.last = Math.round(estimate / 1e3) * 1e3;
      }
      return new Date(this.last).toISOString();
    }
  };
  function toPaymentData(capture, qrCode, expiresAt) {
    const merchant = cleanText(capture.merchant, 120);
    if (!merchant) throw new CaptureError("The page shows no merchant name");
    if (!Number.isSafeInteger(capture.amount) || capture.amount < 1) {
      throw new CaptureError("The page shows no valid amount");
    }
    const data = { qrCode, merchant, amount: capture.amount };
    const orderId = capture.orderId?.trim();
    if (orderId && ORDER_ID.test(orderId)) data.orderId = orderId;
    const description = capture.description ? cleanText(capture.description, 255) : "";
    if (description) data.description = description;
    if (expiresAt) data.expiresAt = expiresAt;
    const deeplink = capture.deeplink?.trim();
    if (deeplink && deeplink.startsWith("momo://") && deeplink.length <= 2048) data.deeplink = deeplink;
    return data;
  }

  // src/content/runner.ts
  var CaptureRunner = class {
    constructor(adapter2, doc, channel, options = {}) {
      this.adapter = adapter2;
      this.doc = doc;
      this.channel = channel;
      this.debounceMs = options.debounceMs ?? 300;
      this.maxWaitMs = options.maxWaitMs ?? 1500;
      this.pollMs = options.pollMs ?? 2e3;
      this.now = options.now ?? Date.now;
    }
    adapter;
    doc;
    channel;
    lastSent = null;
    lastMessage = null;
    lastStatus = null;
    clock = new ExpiryClock();
    observer = null;
    timer = null;
    firstChangeAt = null;
    poll = null;
    debounceMs;
    maxWaitMs;
    pollMs;
    now;
    start() {
      this.observer = new (this.doc.defaultView ?? globalThis).MutationObserver(() => this.schedule());
      this.observer.observe(this.doc.documentElement, {
        subtree: true,
        childList: true,
        characterData: true,
        attributes: true,
        attributeFilter: ["src", "class", "style", "hidden", "width", "height", "content"]
      });
      if (this.pollMs > 0) this.poll = setInterval(() => this.evaluate(), this.pollMs);
      this.evaluate();
    }
    stop() {
      this.observer?.disconnect();
      this.observer = null;
      if (this.timer !== null) clearTimeout(this.timer);
      if (this.poll !== null) clearInterval(this.poll);
      this.timer = this.poll = null;
    }
    /** Whether the page has shown anything worth telling (a payment, a problem, an outcome). */
    get active() {
      return this.lastMessage !== null;
    }
    /** The last message again (after the service worker restarted and the port was remade). */
    resend() {
      if (this.lastMessage) this.channel.send(this.lastMessage);
    }
    /** Forget what was sent (e.g. the page came back from the back/forward cache). */
    reset() {
      this.lastSent = null;
      this.lastStatus = null;
      this.lastMessage = null;
    }
    schedule() {
      const now = this.now();
      this.firstChangeAt ??= now;
      if (this.timer !== null) clearTimeout(this.timer);
      const wait = Math.max(0, Math.min(this.debounceMs, this.firstChangeAt + this.maxWaitMs - now));
      this.timer = setTimeout(() => {
        this.timer = null;
        this.firstChangeAt = null;
        this.evaluate();
      }, wait);
    }
    /** Reads the page once and sends what changed. */
    evaluate() {
      const status = this.adapter.status(this.doc);
      if (status !== "pending") {
        if (status !== this.lastStatus) {
          this.lastStatus = status;
          this.lastSent = null;
          this.emit({ type: "status", adapter: this.adapter.id, status });
        }
        return;
      }
      this.lastStatus = status;
      const capture = this.adapter.extract(this.doc);
      if (!capture) return;
      let message;
      try {
        const qrCode = qrCodeOf(capture.qr);
        const data = toPaymentData(capture, qrCode, this.clock.at(capture.expiresInSeconds, this.now()));
        message = { type: "capture", adapter: this.adapter.id, data };
      } catch (error) {
        if (!(error instanceof CaptureError)) throw error;
        if (error.later) return;
        message = { type: "problem", adapter: this.adapter.id, message: error.message };
      }
      const fingerprint = canonicalJson(message);
      if (fingerprint === this.lastSent) return;
      this.lastSent = fingerprint;
      this.emit(message);
    }
    emit(message) {
      this.lastMessage = message;
      this.channel.send(message);
    }
  };

  // src/content/qrscan.ts
  var MIN_PX = 40;
  var MAX_ASPECT = 2.5;
  var MAX_EXPORT_PX = 1600;
  var MIN_SVG_PX = 400;
  var MAX_PICTURES = 24;
  var MAX_BACKGROUND_CHECKS = 4e3;
  function* elements(root) {
    const start2 = "documentElement" in root ? root.documentElement : root;
    if (!start2) return;
    const walker = (start2.ownerDocument ?? root).createTreeWalker(
      start2,
      1
      /* SHOW_ELEMENT */
    );
    for (let node = walker.currentNode; node; node = walker.nextNode()) {
      yield node;
      const shadow = node.shadowRoot;
      if (shadow) for (const child of Array.from(shadow.children)) yield* elements(child);
    }
  }
  function sizedLikeACode(el) {
    const rect = el.getBoundingClientRect();
    if (rect.width < MIN_PX || rect.height < MIN_PX) return false;
    if (Math.max(rect.width, rect.height) / Math.min(rect.width, rect.height) > MAX_ASPECT) return false;
    const style = el.ownerDocument.defaultView?.getComputedStyle(el);
    if (style && style.opacity !== "" && Number(style.opacity) === 0) return false;
    return isShown(el);
  }
  function backgroundUrl(el) {
    const style = el.ownerDocument.defaultView?.getComputedStyle(el);
    const value = style?.backgroundImage ?? "none";
    const match = /url\(\s*(["']?)(.*?)\1\s*\)/.exec(value);
    return match?.[2] || null;
  }
  function canvasPng(canvas) {
    try {
      return canvas.width > 0 && canvas.height > 0 ? canvas.toDataURL("image/png") : null;
    } catch {
      return null;
    }
  }
  function findSpots(doc) {
    const spots = [];
    let backgroundChecks = 0;
    for (const el of elements(doc)) {
      if (spots.length >= MAX_PICTURES) break;
      const tag = el.tagName.toLowerCase();
      if (tag === "img") {
        const img = el;
        if (!img.currentSrc && !img.getAttribute("src")) continue;
        if (!sizedLikeACode(img)) continue;
        const pending = !img.complete;
        if (!pending && img.naturalWidth === 0) continue;
        const src = img.currentSrc || img.src;
        spots.push({ kind: "img", el, pending, signature: `img ${src} ${img.naturalWidth}x${img.naturalHeight}` });
      } else if (tag === "canvas") {
        if (!sizedLikeACode(el)) continue;
        const png = canvasPng(el);
        spots.push({ kind: "canvas", el, pending: false, png, signature: `canvas ${png ?? "unreadable"}` });
      } else if (tag === "svg" && !el.parentElement?.closest("svg")) {
        if (!sizedLikeACode(el)) continue;
        spots.push({ kind: "svg", el, pending: false, signature: `svg ${el.outerHTML}` });
      } else if (backgroundChecks++ < MAX_BACKGROUND_CHECKS) {
        const url = backgroundUrl(el);
        if (!url || !sizedLikeACode(el)) continue;
        spots.push({ kind: "background", el, pending: false, url, signature: `background ${url}` });
      }
    }
    return spots;
  }
  function labelOf(el) {
    const own = el.getAttribute("alt") || el.getAttribute("aria-label") || el.getAttribute("title") || "";
    const caption = own ? "" : textOf(el.closest("figure")?.querySelector("figcaption"));
    return cleanText(own || caption, 60);
  }
  function pageMerchant(doc) {
    const meta2 = (selector) => doc.querySelector(selector)?.getAttribute("content")?.trim() ?? "";
    const name = meta2('meta[property="og:site_name"]') || meta2('meta[name="application-name"]') || doc.title.trim() || doc.location?.hostname || "";
    return cleanText(name, 120) || null;
  }
  function loadImage(doc, src, crossOrigin) {
    return new Promise((resolve, reject) => {
      const img = doc.createElement("img");
      if (crossOrigin) img.crossOrigin = "anonymous";
      img.onload = () => resolve(img);
      img.onerror = () => reject(new Error(`could not load ${src.slice(0, 40)}`));
      img.src = src;
    });
  }
  function toPng(doc, source, width, height) {
    const scale = Math.min(1, MAX_EXPORT_PX / Math.max(width, height));
    const canvas = doc.createElement("canvas");
    canvas.width = Math.max(1, Math.round(width * scale));
    canvas.height = Math.max(1, Math.round(height * scale));
    const context = canvas.getContext("2d");
    if (!context) throw new Error("no 2D canvas");
    context.fillStyle = "#fff";
    context.fillRect(0, 0, canvas.width, canvas.height);
    context.drawImage(source, 0, 0, canvas.width, canvas.height);
    return canvas.toDataURL("image/png");
  }
  async function urlPng(doc, url, shown) {
    const img = shown ?? await loadImage(doc, url, false).catch(() => null);
    if (img && img.naturalWidth > 0) {
      try {
        return toPng(doc, img, img.naturalWidth, img.naturalHeight);
      } catch {
      }
    }
    if (!/^https?:/.test(url)) return null;
    try {
      const cors = await loadImage(doc, url, true);
      return toPng(doc, cors, cors.naturalWidth, cors.naturalHeight);
    } catch {
      return null;
    }
  }
  async function svgPng(doc, svg) {
    const rect = svg.getBoundingClientRect();
    const scale = Math.max(2, MIN_SVG_PX / Math.min(rect.width, rect.height));
    const width = Math.round(rect.width * scale);
    const height = Math.round(rect.height * scale);
    const copy = svg.cloneNode(true);
    const view = doc.defaultView;
    const originals = [svg, ...Array.from(svg.querySelectorAll("*"))];
    const copies = [copy, ...Array.from(copy.querySelectorAll("*"))];
    originals.forEach((el, i) => {
      const style = view?.getComputedStyle(el);
      if (!style) return;
      for (const property of ["fill", "stroke", "stroke-width", "fill-opacity", "opacity", "display", "visibility"]) {
        const value = style.getPropertyValue(property);
        if (value) copies[i]?.setAttribute(property, value);
      }
    });
    copy.setAttribute("xmlns", "http://www.w3.org/2000/svg");
    copy.setAttribute("width", String(width));
    copy.setAttribute("height", String(height));
    if (!copy.getAttribute("viewBox")) copy.setAttribute("viewBox", `0 0 ${rect.width} ${rect.height}`);
    const markup = new XMLSerializer().serializeToString(copy);
    try {
      const img = await loadImage(doc, `data:image/svg+xml;charset=utf-8,${encodeURIComponent(markup)}`, false);
      return toPng(doc, img, width, height);
    } catch {
      return null;
    }
  }
  async function pictureOf(doc, spot) {
    switch (spot.kind) {
      case "canvas":
        return spot.png ?? null;
      case "svg":
        return svgPng(doc, spot.el);
      case "img": {
        const img = spot.el;
        return urlPng(doc, img.currentSrc || img.src, img);
      }
      case "background":
        return spot.url ? urlPng(doc, new URL(spot.url, doc.baseURI).href, null) : null;
    }
  }
  async function scanSpots(doc, spots, cache) {
    const pictures = [];
    let unreadable = 0;
    const fresh = /* @__PURE__ */ new Map();
    for (const spot of spots) {
      if (spot.pending) continue;
      const png = cache.has(spot.signature) ? cache.get(spot.signature) : await pictureOf(doc, spot);
      fresh.set(spot.signature, png);
      if (png) pictures.push({ kind: spot.kind, png, label: labelOf(spot.el) });
      else unreadable++;
    }
    cache.clear();
    for (const [key, value] of fresh) cache.set(key, value);
    return { pictures, unreadable, pageMerchant: pageMerchant(doc) };
  }

  // src/content/watcher.ts
  var DOM_READ = { find: findSpots, scan: scanSpots };
  var QrWatcher = class {
    constructor(doc, channel, options = {}, read = DOM_READ) {
      this.doc = doc;
      this.channel = channel;
      this.read = read;
      this.debounceMs = options.debounceMs ?? 300;
      this.maxWaitMs = options.maxWaitMs ?? 1500;
      this.pollMs = options.pollMs ?? 2e3;
      this.now = options.now ?? Date.now;
    }
    doc;
    channel;
    read;
    lastKey = null;
    /** A page read while a picture was still loading, put off once (see once()). */
    waitedFor = null;
    forceLater = false;
    lastMessage = null;
    pictures = /* @__PURE__ */ new Map();
    observer = null;
    timer = null;
    firstChangeAt = null;
    poll = null;
    running = null;
    again = null;
    debounceMs;
    maxWaitMs;
    pollMs;
    now;
    onLoad = (event) => {
      if (event.target?.tagName === "IMG") this.schedule();
    };
    start() {
      this.observer = new (this.doc.defaultView ?? globalThis).MutationObserver(() => this.schedule());
      this.observer.observe(this.doc.documentElement, {
        subtree: true,
        childList: true,
        attributes: true,
        attributeFilter: ["src", "srcset", "class", "style", "hidden", "width", "height", "d", "content"]
      });
      this.doc.addEventListener("load", this.onLoad, true);
      if (this.pollMs > 0) this.poll = setInterval(() => void this.evaluate(), this.pollMs);
      void this.evaluate();
    }
    stop() {
      this.observer?.disconnect();
      this.observer = null;
      this.doc.removeEventListener("load", this.onLoad, true);
      if (this.timer !== null) clearTimeout(this.timer);
      if (this.poll !== null) clearInterval(this.poll);
      this.timer = this.poll = null;
    }
    get active() {
      return this.lastMessage !== null;
    }
    resend() {
      if (this.lastMessage) this.channel.send(this.lastMessage);
    }
    reset() {
      this.lastKey = null;
      this.lastMessage = null;
    }
    schedule() {
      const now = this.now();
      this.firstChangeAt ??= now;
      if (this.timer !== null) clearTimeout(this.timer);
      const wait = Math.max(0, Math.min(this.debounceMs, this.firstChangeAt + this.maxWaitMs - now));
      this.timer = setTimeout(() => {
        this.timer = null;
        this.firstChangeAt = null;
        void this.evaluate();
      }, wait);
    }
    /**
     * Reads the page and sends its pictures when they changed, or always when `forced`
     * (the user opened the popup). One read at a time; a call during one runs after it.
     */
    async evaluate(forced = false) {
      if (this.running) {
        this.again = (this.again ?? false) || forced;
        return this.running;
      }
      this.running = (async () => {
        let force = forced;
        for (; ; ) {
          await this.once(force);
          if (this.again === null) break;
          force = this.again;
          this.again = null;
        }
      })().finally(() => this.running = null);
      return this.running;
    }
    async once(forcedNow) {
      const spots = this.read.find(this.doc);
      const key = spots.map((s) => `${s.pending ? "pending " : ""}${s.signature}`).join("\n");
      const forced = forcedNow || this.forceLater;
      if (!forced && key === this.lastKey) return;
      if (spots.some((s) => s.pending) && key !== this.waitedFor) {
        this.waitedFor = key;
        this.forceLater = forced;
        return;
      }
      this.forceLater = false;
      const scan = await this.read.scan(this.doc, spots, this.pictures);
      this.lastKey = key;
      if (!forced && !this.lastMessage && scan.pictures.length === 0 && scan.unreadable === 0) return;
      const message = { type: "scan", adapter: GENERIC, scan, forced };
      this.lastMessage = message;
      this.channel.send(message);
    }
  };

  // src/content/main.ts
  function pickAdapter(url, doc) {
    const candidates = virtual_adapters_default.filter((a) => a.matches.some((pattern) => matchPattern(pattern, url)));
    return candidates.find((a) => a.detect(doc)) ?? candidates[0] ?? null;
  }
  var KEEPALIVE_MS = 2e4;
  function alive() {
    return typeof chrome !== "undefined" && Boolean(chrome.runtime?.id);
  }
  var RUNNING = "__paymentQrGatewayContent";
  function start() {
    const hooks = globalThis;
    const running = hooks[RUNNING];
    if (running) {
      running();
      return;
    }
    const adapter2 = pickAdapter(location.href, document);
    let port = null;
    let runner = null;
    let stopped = false;
    const connect = () => {
      if (stopped) return null;
      if (!alive()) {
        runner?.stop();
        return null;
      }
      const p = chrome.runtime.connect({ name: CAPTURE_PORT });
      p.onMessage.addListener((message) => {
        if (message.type === "rescan") {
          readAgain();
          return;
        }
        if (message.type === "stop") {
          stopped = true;
          runner?.stop();
          runner = null;
          hooks[RUNNING] = void 0;
          p.disconnect();
          port = null;
          return;
        }
      });
      p.onDisconnect.addListener(() => {
        port = null;
        void chrome.runtime.lastError;
        setTimeout(() => {
          if (!port && connect()) runner?.resend();
        }, 500);
      });
      port = p;
      return p;
    };
    const channel = {
      send(message) {
        const p = port ?? connect();
        try {
          p?.postMessage(message);
        } catch {
          port = null;
          connect()?.postMessage(message);
        }
      }
    };
    const readAgain = () => {
      if (!runner) return;
      if (!port) connect();
      if (runner instanceof CaptureRunner) {
        runner.reset();
        runner.evaluate();
      } else {
        void runner.evaluate(true);
      }
    };
    hooks[RUNNING] = readAgain;
    runner = adapter2 ? new CaptureRunner(adapter2, document, channel) : new QrWatcher(document, channel);
    connect();
    runner.start();
    setInterval(() => {
      if (!alive() || !runner?.active) return;
      try {
        port?.postMessage({ type: "keepalive" });
      } catch {
        port = null;
      }
    }, KEEPALIVE_MS);
    window.addEventListener("pageshow", (event) => {
      if (event.persisted && runner) {
        runner.reset();
        if (!port) connect();
        runner.evaluate();
      }
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start, { once: true });
  } else {
    start();
  }
})();
