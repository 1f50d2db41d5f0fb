// The generic capture in the page: which elements may show a QR, what the page is
// called, and the watcher's rhythm (debounced, only what changed, all again when the
// popup asks). Pixels are the browser's business (tests/test_e2e_capture.py); jsdom has
// no layout, so sizes are given to the elements here.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { findSpots, labelOf, pageMerchant, type Spot } from "../src/content/qrscan";
import { QrWatcher, type PageRead } from "../src/content/watcher";
import type { CaptureMessage, PageScan } from "../src/shared/types";
import { page } from "./helpers";

/** Gives every element of `doc` a layout box: `width` × `height` CSS pixels, or its data-size. */
function layout(doc: Document): void {
  for (const el of Array.from(doc.querySelectorAll("*"))) {
    const [w, h] = (el.getAttribute("data-size") ?? "300x300").split("x").map(Number) as [number, number];
    el.getBoundingClientRect = () => ({ width: w, height: h, x: 0, y: 0, top: 0, left: 0, right: w, bottom: h, toJSON: () => ({}) });
  }
}

const SHOP = "https://shop.example/checkout";

describe("findSpots", () => {
  it("takes shown images, canvases, inline SVG and CSS backgrounds large and square enough to be a code", () => {
    const doc = page(
      `<img id="qr" src="data:image/png;base64,AAAA" alt="VietQR">
       <img id="icon" src="logo.png" data-size="24x24">
       <img id="banner" src="banner.png" data-size="900x120">
       <img id="hidden" src="x.png" style="display:none">
       <div hidden><img id="in-hidden" src="y.png"></div>
       <canvas id="pad" width="200" height="200"></canvas>
       <svg id="svg" viewBox="0 0 10 10"><svg id="inner"></svg><rect width="5" height="5"/></svg>
       <div id="bg" style="background-image: url('zalopay.png')"></div>
       <div id="plain"></div>`,
      SHOP,
    );
    layout(doc);
    const spots = findSpots(doc);
    const ids = spots.map((s) => `${s.kind}:${s.el.id}`);
    expect(ids).toContain("img:qr");
    expect(ids).toContain("canvas:pad");
    expect(ids).toContain("svg:svg");
    expect(ids).toContain("background:bg");
    for (const left of ["icon", "banner", "hidden", "in-hidden", "inner", "plain"]) {
      expect(ids.join(" ")).not.toContain(`:${left}`);
    }
    expect(spots.find((s) => s.el.id === "bg")?.url).toBe("zalopay.png");
  });

  it("fingerprints a picture by what it shows, so a new code is a change", () => {
    const doc = page(`<img id="qr" src="a.png">`, SHOP);
    layout(doc);
    const before = findSpots(doc)[0]!.signature;
    doc.getElementById("qr")!.setAttribute("src", "b.png");
    expect(findSpots(doc)[0]!.signature).not.toBe(before);
  });
});

describe("labelOf and pageMerchant", () => {
  it("tells codes apart by alt text, aria-label, title or caption", () => {
    const doc = page(
      `<img id="a" alt="Chuyển khoản"><div id="b" aria-label="ZaloPay"></div>
       <figure><img id="c"><figcaption>Ví MoMo</figcaption></figure><img id="d">`,
      SHOP,
    );
    expect(["a", "b", "c", "d"].map((id) => labelOf(doc.getElementById(id)!))).toEqual([
      "Chuyển khoản",
      "ZaloPay",
      "Ví MoMo",
      "",
    ]);
  });

  it("names the page by og:site_name, then its title, then its host", () => {
    expect(pageMerchant(page(`<meta property="og:site_name" content=" Tiệm Hoa Lan "><title>Checkout</title>`, SHOP))).toBe(
      "Tiệm Hoa Lan",
    );
    expect(pageMerchant(page(`<title>Cửa hàng An</title>`, SHOP))).toBe("Cửa hàng An");
    expect(pageMerchant(page(``, SHOP))).toBe("shop.example");
  });
});

describe("QrWatcher", () => {
  let sent: CaptureMessage[];
  let shown: string[];
  let reads: number;
  let watcher: QrWatcher;
  let doc: Document;

  /** A page read that sees `shown` (one picture per name; "…?" is still loading) without any DOM. */
  const read: PageRead = {
    find: () =>
      shown.map(
        (name) => ({ kind: "img", el: doc.body, signature: name, pending: name.endsWith("?") }) satisfies Spot,
      ),
    scan: async (_doc, spots): Promise<PageScan> => {
      reads++;
      return {
        pictures: spots
          .filter((s) => !s.pending)
          .map((s) => ({ kind: "img" as const, png: `data:image/png;base64,${s.signature}`, label: "" })),
        unreadable: 0,
        pageMerchant: "Shop",
      };
    },
  };

  beforeEach(() => {
    vi.useFakeTimers();
    doc = page(`<p id="text">hello</p>`, SHOP);
    sent = [];
    shown = ["code-a"];
    reads = 0;
    watcher = new QrWatcher(doc, { send: (m) => sent.push(m) }, { pollMs: 2_000 }, read);
  });

  afterEach(() => {
    watcher.stop();
    vi.useRealTimers();
  });

  const pngs = (message: CaptureMessage | undefined): string[] =>
    message?.type === "scan" ? message.scan.pictures.map((p) => p.png.split(",")[1]!) : [];

  it("sends the page's pictures when it starts", async () => {
    watcher.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ type: "scan", adapter: "generic", forced: false });
    expect(pngs(sent[0])).toEqual(["code-a"]);
  });

  it("sends again only when the pictures changed, after the page is quiet", async () => {
    watcher.start();
    await vi.advanceTimersByTimeAsync(0);
    doc.getElementById("text")!.textContent = "a ticking countdown"; // a change, but not of a picture
    await vi.advanceTimersByTimeAsync(2_500); // debounce and a poll
    expect(sent).toHaveLength(1);
    expect(reads).toBe(1);
    shown = ["code-b"];
    doc.getElementById("text")!.textContent = "a new order";
    await vi.advanceTimersByTimeAsync(100);
    expect(sent).toHaveLength(1); // still within the 300 ms debounce
    await vi.advanceTimersByTimeAsync(300);
    expect(sent).toHaveLength(2);
    expect(pngs(sent[1])).toEqual(["code-b"]);
  });

  it("sends everything again when the popup asks, changed or not", async () => {
    watcher.start();
    await vi.advanceTimersByTimeAsync(0);
    await watcher.evaluate(true);
    expect(sent).toHaveLength(2);
    expect(sent[1]).toMatchObject({ type: "scan", forced: true });
  });

  it("waits once for a picture that is still loading, rather than report a page without it", async () => {
    watcher.start();
    await vi.advanceTimersByTimeAsync(0);
    shown = ["code-b?"]; // the next order's code is loading
    doc.getElementById("text")!.textContent = "a new order";
    await vi.advanceTimersByTimeAsync(400);
    expect(sent).toHaveLength(1);
    shown = ["code-b"]; // loaded (its load event schedules a read)
    watcher.schedule();
    await vi.advanceTimersByTimeAsync(400);
    expect(sent.map(pngs)).toEqual([["code-a"], ["code-b"]]);
  });

  it("does not wait longer than one more read for a picture that never loads", async () => {
    shown = ["code-a", "lazy?"];
    watcher.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(sent).toEqual([]);
    await vi.advanceTimersByTimeAsync(2_000); // the poll
    expect(sent.map(pngs)).toEqual([["code-a"]]);
  });

  it("stays silent on a page that never showed a picture, unless asked", async () => {
    shown = [];
    watcher.start();
    await vi.advanceTimersByTimeAsync(2_500);
    expect(sent).toEqual([]);
    await watcher.evaluate(true);
    expect(sent).toHaveLength(1);
    expect(pngs(sent[0])).toEqual([]);
  });
});
