// @vitest-environment node
// The generic capture in the service worker: what the codes on a page lead to (publish,
// ask the user, or say why not), and that the viewers' screen follows the page.
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  GenericCapture,
  checkChoice,
  classify,
  decide,
  paymentData,
  type FoundCode,
  type ScanState,
} from "../src/background/generic";
import type { PageScan, PaymentData } from "../src/shared/types";
import { FIXTURES } from "./helpers";

const VECTORS: { name: string; payload: string }[] = JSON.parse(
  readFileSync(path.join(FIXTURES, "vietqr-vectors.json"), "utf8"),
).vectors;
const payload = (prefix: string): string => VECTORS.find((v) => v.name.startsWith(prefix))!.payload;
const BANK = payload("dynamic VietQR"); // 250000, CUA HANG AN, HD2048
const MOMO = payload("MoMo"); // 150000
const STATIC = payload("static VietQR");
const USD = payload("a payment in US dollars");
const VNPAY = payload("VNPay"); // 89000.00
const BAD_CRC = payload("a wrong CRC");
const LINK = "https://shop.example/login?session=abc";

const codesOf = (...texts: string[]): FoundCode[] => classify([{ texts, label: "" }], 1, 0).codes;

describe("classify", () => {
  it("keeps payment codes with their payee and whole-đồng amount, once each", () => {
    const { codes, notes, problem } = classify(
      [
        { texts: [BANK], label: "Chuyển khoản" },
        { texts: [BANK, VNPAY], label: "" },
      ],
      2,
      0,
    );
    expect(codes.map((c) => [c.payee.provider, c.amount, c.label])).toEqual([
      ["VIETQR", 250000, "Chuyển khoản"],
      ["VNPAY", 89000, ""],
    ]);
    expect(codes[0]!.payee.bankName).toBe("Vietcombank");
    expect([notes, problem]).toEqual([[], null]);
  });

  it("ignores a link and says so; with nothing else, that is why nothing is published", () => {
    const { codes, notes, problem } = classify([{ texts: [LINK], label: "" }], 1, 0);
    expect(codes).toEqual([]);
    expect(notes).toEqual(["Ignored a QR code that is not a payment code (a link to shop.example)."]);
    expect(problem).toMatch(/not a payment code. Nothing was published/);
  });

  it("refuses a code whose CRC fails, and one that asks for another currency", () => {
    expect(classify([{ texts: [BAD_CRC], label: "" }], 1, 0).problem).toMatch(/failed its CRC check.*Nothing was published/);
    const usd = classify([{ texts: [USD], label: "" }], 1, 0);
    expect(usd.codes[0]!.problem).toMatch(/in USD \(840\), not VND/);
    expect(usd.problem).toBe(usd.codes[0]!.problem);
  });

  it("notes a damaged code beside a good one, without blocking it", () => {
    const { codes, notes, problem } = classify([{ texts: [BAD_CRC, MOMO], label: "" }], 1, 0);
    expect(codes).toHaveLength(1);
    expect(problem).toBeNull();
    expect(notes[0]).toMatch(/failed its CRC check.*It was ignored\./);
  });

  it("says when no QR could be read, or none is visible, and counts unreadable pictures", () => {
    expect(classify([{ texts: [], label: "" }], 3, 0).problem).toBe("No QR code could be read on this page (3 pictures checked).");
    expect(classify([], 0, 2).problem).toBe(
      "No QR code is visible on this page. 2 pictures could not be read: another site serves them and does not allow it.",
    );
  });
});

describe("decide", () => {
  it("publishes the one payment code with an amount", () => {
    expect(decide(codesOf(BANK), null, null, null)).toMatchObject({ kind: "publish", amount: 250000 });
  });

  it("asks for the amount of a lone static code, and a pick among several", () => {
    expect(decide(codesOf(STATIC), null, null, null)).toEqual({ kind: "need", need: "amount" });
    expect(decide(codesOf(BANK, MOMO), null, null, null)).toEqual({ kind: "need", need: "pick" });
  });

  it("keeps the user's pick, and the code on screen, while the page still shows them", () => {
    const codes = codesOf(BANK, MOMO, STATIC);
    expect(decide(codes, null, { payload: MOMO, amount: null }, null)).toMatchObject({ amount: 150000 });
    expect(decide(codes, null, { payload: STATIC, amount: 42000 }, null)).toMatchObject({ amount: 42000 });
    expect(decide(codes, null, null, BANK)).toMatchObject({ kind: "publish", amount: 250000 });
    expect(decide(codesOf(MOMO, STATIC), null, { payload: BANK, amount: null }, BANK)).toEqual({ kind: "need", need: "pick" });
  });

  it("says why when nothing can be published", () => {
    expect(decide([], "No QR code is visible on this page.", null, null)).toEqual({
      kind: "none",
      problem: "No QR code is visible on this page.",
    });
  });
});

describe("checkChoice", () => {
  const [bank, stat, usd] = [...codesOf(BANK, STATIC), ...codesOf(USD)] as [FoundCode, FoundCode, FoundCode];

  it("takes a dynamic code with its own amount, typed or not", () => {
    expect(checkChoice(bank, "")).toEqual({ ok: true, choice: { payload: BANK, amount: null } });
    expect(checkChoice(bank, "250.000")).toEqual({ ok: true, choice: { payload: BANK, amount: null } });
  });

  it("refuses an amount that disagrees with the code's", () => {
    const refused = checkChoice(bank, "200000");
    expect(refused.ok).toBe(false);
    expect(!refused.ok && refused.problem).toMatch(/asks for 250\.000\s₫, not the 200\.000\s₫ typed.*Nothing was published/);
  });

  it("needs a typed amount for a static code, and a readable one", () => {
    expect(checkChoice(stat, "")).toEqual({ ok: false, problem: "This code has no amount: type the amount to collect." });
    expect(checkChoice(stat, "12,5 nghìn")).toMatchObject({ ok: false });
    expect(checkChoice(stat, "120.000đ")).toEqual({ ok: true, choice: { payload: STATIC, amount: 120000 } });
  });

  it("refuses a code in another currency", () => {
    expect(checkChoice(usd, "25")).toMatchObject({ ok: false, problem: expect.stringMatching(/USD/) });
  });
});

describe("paymentData", () => {
  it("publishes the payload itself, tag 54's amount, tag 59's merchant, the bill number and purpose", () => {
    const [bank] = codesOf(BANK) as [FoundCode];
    expect(paymentData(bank, 250000, "Cửa hàng An", "https://shop.example")).toEqual({
      qrCode: BANK,
      merchant: "CUA HANG AN",
      amount: 250000,
      orderId: "HD2048",
      description: "Thanh toan HD2048",
    });
  });

  it("names the merchant after the page, or its host, when the code has no tag 59", () => {
    const [stat] = codesOf(STATIC) as [FoundCode];
    expect(paymentData(stat, 120000, "Tiệm Bánh Mì Hòa", "https://shop.example").merchant).toBe("Tiệm Bánh Mì Hòa");
    expect(paymentData(stat, 120000, null, "https://shop.example:8443").merchant).toBe("shop.example:8443");
  });
});

// --- the service worker's side, with a publisher that records what it is told --------

function harness() {
  const calls: string[] = [];
  const published: PaymentData[] = [];
  const states = new Map<number, ScanState>();
  const decoded = new Map<string, string[]>();
  let clock = Date.UTC(2026, 11, 2, 10, 0, 0);
  const capture = new GenericCapture({
    publisher: {
      capture: async (_tab, data) => {
        calls.push(`publish ${data.amount}`);
        published.push(data);
      },
      orderOver: async (_tab, status) => void calls.push(`clear ${status}`),
      pageProblem: async (_tab, message) => void calls.push(`problem ${message.slice(0, 40)}`),
      pageOpened: async () => undefined,
      clearProblem: async () => void calls.push("fine"),
    },
    decode: async (png) => decoded.get(png) ?? [],
    load: async (tabId) => structuredClone(states.get(tabId) ?? null),
    save: async (state) => void states.set(state.tabId, structuredClone(state)),
    now: () => (clock += 1000),
  });
  /** A page showing pictures whose "PNG" is the name of the codes they hold. */
  const page = (...pictures: string[][]): PageScan => ({
    pictures: pictures.map((texts, i) => {
      decoded.set(`png-${texts.join("+")}-${i}`, texts);
      return { kind: "img" as const, png: `png-${texts.join("+")}-${i}`, label: `picture ${i}` };
    }),
    unreadable: 0,
    pageMerchant: "Shop",
  });
  return { capture, calls, published, states, page };
}

describe("GenericCapture", () => {
  it("publishes a page's one code, and republishes only when the page shows another", async () => {
    const { capture, calls, published, states, page } = harness();
    await capture.scanned(7, "https://shop.example", page([BANK]));
    await capture.scanned(7, "https://shop.example", page([BANK])); // the same page again
    await capture.scanned(7, "https://shop.example", page([MOMO])); // a new order
    expect(calls).toEqual(["publish 250000", "publish 250000", "publish 150000"]);
    expect(published[2]!.qrCode).toBe(MOMO);
    expect(states.get(7)).toMatchObject({ status: "done", shown: MOMO, need: null, problem: null });
  });

  it("clears the screen when the code on it leaves the page, and says why nothing is published", async () => {
    const { capture, calls, states, page } = harness();
    await capture.scanned(7, "https://shop.example", page([BANK]));
    await capture.scanned(7, "https://shop.example", page([BAD_CRC]));
    expect(calls).toEqual(["publish 250000", "clear cancelled"]);
    expect(states.get(7)).toMatchObject({ shown: null, problem: expect.stringMatching(/CRC/) });
    await capture.scanned(8, "https://shop.example", page([LINK]));
    expect(calls.at(-1)).toMatch(/^problem No payment QR code on this page/);
  });

  it("asks for a pick, publishes it, and refuses a typed amount the code does not ask for", async () => {
    const { capture, calls, states, page } = harness();
    await capture.scanned(7, "https://shop.example", page([BANK], [MOMO]));
    expect(states.get(7)).toMatchObject({ need: "pick", shown: null });
    expect(await capture.choose(7, BANK, "200000")).toMatchObject({ ok: false, problem: expect.stringMatching(/not the 200\.000/) });
    expect(calls).toEqual(["fine"]);
    expect(await capture.choose(7, MOMO, "")).toEqual({ ok: true, problem: null });
    expect(calls).toEqual(["fine", "publish 150000"]);
    // The page re-read (popup opened again): the pick stands.
    await capture.scanned(7, "https://shop.example", page([BANK], [MOMO]));
    expect(calls.at(-1)).toBe("publish 150000");
    expect(states.get(7)).toMatchObject({ shown: MOMO, choice: { payload: MOMO } });
  });

  it("publishes a static code with the amount typed, the page's name as merchant", async () => {
    const { capture, published, states, page } = harness();
    await capture.scanned(7, "https://shop.example", page([STATIC]));
    expect(states.get(7)!.need).toBe("amount");
    expect(await capture.choose(7, STATIC, "")).toMatchObject({ ok: false });
    expect(await capture.choose(7, STATIC, "120.000")).toMatchObject({ ok: true });
    expect(published).toEqual([{ qrCode: STATIC, merchant: "Shop", amount: 120000 }]);
  });

  it("forgets a page that left its tab, so the next page starts afresh", async () => {
    const { capture, states, page } = harness();
    await capture.scanned(7, "https://shop.example", page([BANK], [MOMO]));
    await capture.choose(7, MOMO, "");
    await capture.pageLeft(7);
    expect(states.get(7)).toMatchObject({ codes: [], shown: null, choice: null, origin: null });
    await capture.pageLeft(8); // never scanned: nothing to forget
    expect(states.has(8)).toBe(false);
  });

  it("marks a scan in progress until the page's answer is read", async () => {
    const { capture, states, page } = harness();
    await capture.scanning(7);
    expect(states.get(7)!.status).toBe("scanning");
    await capture.scanned(7, null, page([BANK]));
    expect(states.get(7)!.status).toBe("done");
    await capture.unreadable(9, "cannot read");
    expect(states.get(9)).toMatchObject({ status: "done", problem: "cannot read", codes: [] });
  });
});
