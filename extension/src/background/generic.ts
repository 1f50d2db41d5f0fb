// The generic capture in the service worker: the QR codes a page shows, decoded,
// classified (a payment code, a damaged one, something else), and what to do about
// them: publish the one payment code, ask the user in the popup to pick one or to
// type the amount of a static code, or say why nothing was published. The EMVCo
// payload itself is published as `qrCode`, with the amount of tag 54 (or the one
// typed for a static code) and the merchant of tag 59 (or the page's own name). Each
// tab's findings live in chrome.storage.session under `scan:<tabId>`, for the popup.

import { formatVnd, parseVndAmount } from "../shared/amount";
import type { PageScan, PaymentData } from "../shared/types";
import {
  EmvError,
  VND,
  currencyName,
  looksLikeEmvco,
  parsePaymentQr,
  payeeOf,
  wholeVnd,
  type Payee,
} from "../shared/vietqr";
import { toPaymentData } from "../content/capture";
import type { Publisher } from "./publisher";

/** A payment code found on the page, as the popup lists it. */
export interface FoundCode {
  payload: string;
  /** Who will be paid, exactly as the gateway will tell the customer's screen. */
  payee: Payee;
  /** Whole đồng from tag 54, or null for a static code (the amount is typed in the popup). */
  amount: number | null;
  billNumber: string | null;
  purpose: string | null;
  /** The picture's alt text or caption, to tell codes apart. */
  label: string;
  /** Why this code cannot be published (not VND, a fraction of a đồng), or null. */
  problem: string | null;
}

/** The user's pick in the popup: a code, and the amount typed for a static one. */
export interface Choice {
  payload: string;
  amount: number | null;
}

export type Need = "pick" | "amount";

/** One tab's generic capture, kept in chrome.storage.session and shown by the popup. */
export interface ScanState {
  tabId: number;
  /** The page's origin (from the content script's port), for "Always capture on this site". */
  origin: string | null;
  /** `scanning` from the popup's request until the page's answer is decoded. */
  status: "scanning" | "done";
  at: string;
  codes: FoundCode[];
  /** What was ignored, in plain words (a link, a damaged code). */
  notes: string[];
  /** Why nothing is published, when nothing is. */
  problem: string | null;
  /** What the popup must ask before anything is published. */
  need: Need | null;
  /** The payload on the viewers' screen, published from this page. */
  shown: string | null;
  choice: Choice | null;
  pageMerchant: string | null;
}

/** The codes read from one picture. */
export interface Decoded {
  texts: string[];
  label: string;
}

export function newScanState(tabId: number, now: string): ScanState {
  return {
    tabId,
    origin: null,
    status: "done",
    at: now,
    codes: [],
    notes: [],
    problem: null,
    need: null,
    shown: null,
    choice: null,
    pageMerchant: null,
  };
}

const CRC_FAILED =
  "The QR code on this page failed its CRC check: it is damaged or was altered, so it may not pay who it claims. " +
  "Nothing was published.";

function describeOther(text: string): string {
  try {
    const url = new URL(text);
    if (url.protocol === "https:" || url.protocol === "http:") return `a link to ${url.host}`;
  } catch {
    // not a URL
  }
  return "text that is not an EMVCo payment payload";
}

function found(payload: string, label: string): FoundCode {
  const qr = parsePaymentQr(payload);
  let amount: number | null = null;
  let problem: string | null = null;
  if (qr.currency !== null && qr.currency !== VND) {
    const currency = `${currencyName(qr.currency)} (${qr.currency})`;
    problem = `This code asks for a payment in ${currency}, not VND. Nothing was published.`;
  } else if (qr.amount !== null) {
    amount = wholeVnd(qr.amount);
    if (amount === null) {
      problem = `This code's amount (${qr.amount}) is not a whole number of đồng. Nothing was published.`;
    }
  }
  return {
    payload,
    payee: payeeOf(qr),
    amount,
    billNumber: qr.billNumber,
    purpose: qr.purpose,
    label,
    problem,
  };
}

/** Sorts what the pictures said into payment codes, notes, and why nothing can be published. */
export function classify(
  decoded: readonly Decoded[],
  pictures: number,
  unreadable: number,
): { codes: FoundCode[]; notes: string[]; problem: string | null } {
  const codes: FoundCode[] = [];
  const notes: string[] = [];
  const broken: string[] = [];
  const seen = new Set<string>();
  for (const { texts, label } of decoded) {
    for (const text of texts) {
      if (seen.has(text)) continue;
      seen.add(text);
      if (!looksLikeEmvco(text)) {
        notes.push(`Ignored a QR code that is not a payment code (${describeOther(text)}).`);
        continue;
      }
      try {
        codes.push(found(text, label));
      } catch (error) {
        if (!(error instanceof EmvError)) throw error;
        broken.push(
          error.kind === "crc"
            ? CRC_FAILED
            : `The QR code on this page is not a well-formed payment code (${error.message}). Nothing was published.`,
        );
      }
    }
  }
  const plural = (n: number, one: string, many: string): string => (n > 1 ? many : one);
  const unread =
    unreadable > 0
      ? `${unreadable} ${plural(unreadable, "picture", "pictures")} could not be read: another site serves ` +
        `${plural(unreadable, "it", "them")} and does not allow it.`
      : null;
  const usable = codes.filter((c) => !c.problem);
  let problem: string | null = null;
  if (usable.length > 0) notes.push(...broken.map((b) => b.replace(/ Nothing was published\.$/, " It was ignored.")));
  else if (broken.length > 0) problem = broken[0]!;
  else if (codes.length > 0) problem = codes[0]!.problem!;
  else if (seen.size > 0) {
    problem = "No payment QR code on this page: the QR code here is not a payment code. Nothing was published.";
  } else {
    const checked =
      pictures > 0
        ? `No QR code could be read on this page (${pictures} ${plural(pictures, "picture", "pictures")} checked).`
        : "No QR code is visible on this page.";
    return { codes, notes, problem: [checked, unread].filter(Boolean).join(" ") };
  }
  if (unread) notes.push(unread);
  return { codes, notes, problem };
}

export type Decision =
  | { kind: "publish"; code: FoundCode; amount: number }
  | { kind: "need"; need: Need }
  | { kind: "none"; problem: string };

/**
 * What to do with the codes on the page: the user's pick while it is still there, the
 * code already on screen while it is still there, the one payment code with an amount;
 * else ask (several codes: pick one; one static code: its amount).
 */
export function decide(
  codes: readonly FoundCode[],
  problem: string | null,
  choice: Choice | null,
  shown: string | null,
): Decision {
  const usable = codes.filter((c) => !c.problem);
  if (choice) {
    const code = usable.find((c) => c.payload === choice.payload);
    const amount = code?.amount ?? choice.amount;
    if (code && amount !== null) return { kind: "publish", code, amount };
  }
  const onScreen = usable.find((c) => c.payload === shown && c.amount !== null);
  if (onScreen) return { kind: "publish", code: onScreen, amount: onScreen.amount! };
  if (usable.length === 1) {
    const only = usable[0]!;
    if (only.amount === null) return { kind: "need", need: "amount" };
    return { kind: "publish", code: only, amount: only.amount };
  }
  if (usable.length > 1) return { kind: "need", need: "pick" };
  return { kind: "none", problem: problem ?? "No payment QR code on this page. Nothing was published." };
}

/** The user picked `code` and typed `typed` (maybe nothing): the choice, or why it is refused. */
export function checkChoice(
  code: FoundCode,
  typed: string,
): { ok: true; choice: Choice } | { ok: false; problem: string } {
  if (code.problem) return { ok: false, problem: code.problem };
  const text = typed.trim();
  const amount = text ? parseVndAmount(text) : null;
  if (text && amount === null) {
    const problem = `"${text.slice(0, 20)}" is not an amount in đồng (e.g. 150000 or 150.000). Nothing was published.`;
    return { ok: false, problem };
  }
  if (code.amount !== null) {
    if (amount !== null && amount !== code.amount) {
      return {
        ok: false,
        problem:
          `This code asks for ${formatVnd(code.amount)}, not the ${formatVnd(amount)} typed: ` +
          "the customer's app pays what the code says. Nothing was published.",
      };
    }
    return { ok: true, choice: { payload: code.payload, amount: null } };
  }
  if (amount === null) return { ok: false, problem: "This code has no amount: type the amount to collect." };
  return { ok: true, choice: { payload: code.payload, amount } };
}

/** The `data` of POST /api/payment for a code: the payload itself as `qrCode`. */
export function paymentData(
  code: FoundCode,
  amount: number,
  pageMerchant: string | null,
  origin: string | null,
): PaymentData {
  const host = origin ? new URL(origin).host : "";
  const merchant = code.payee.merchantName || pageMerchant || host;
  return toPaymentData(
    {
      qr: code.payload,
      merchant,
      amount,
      ...(code.billNumber ? { orderId: code.billNumber } : {}),
      ...(code.purpose ? { description: code.purpose } : {}),
    },
    code.payload,
    undefined,
  );
}

export interface GenericDeps {
  publisher: Pick<Publisher, "capture" | "orderOver" | "pageProblem" | "pageOpened" | "clearProblem">;
  /** The texts of the QR codes in a PNG data URI. */
  decode(png: string): Promise<string[]>;
  load(tabId: number): Promise<ScanState | null>;
  save(state: ScanState): Promise<void>;
  now?(): number;
}

export class GenericCapture {
  private readonly now: () => number;

  constructor(private readonly deps: GenericDeps) {
    this.now = deps.now ?? Date.now;
  }

  private iso(): string {
    return new Date(this.now()).toISOString();
  }

  private async state(tabId: number): Promise<ScanState> {
    return (await this.deps.load(tabId)) ?? newScanState(tabId, this.iso());
  }

  /** The popup asked for a fresh read of the page. */
  async scanning(tabId: number): Promise<void> {
    const state = await this.state(tabId);
    await this.deps.save({ ...state, status: "scanning", at: this.iso() });
  }

  /** The page left the tab (its screen is being cleared): what it showed is forgotten. */
  async pageLeft(tabId: number): Promise<void> {
    if (await this.deps.load(tabId)) await this.deps.save(newScanState(tabId, this.iso()));
  }

  /** The tab cannot be read at all (a browser page, or no grant): said in the popup. */
  async unreadable(tabId: number, problem: string): Promise<void> {
    const state = await this.state(tabId);
    await this.deps.save({ ...state, status: "done", at: this.iso(), codes: [], notes: [], need: null, problem });
  }

  /** The page's pictures arrived: decode, classify, and publish or ask. */
  async scanned(tabId: number, origin: string | null, scan: PageScan): Promise<void> {
    const decoded: Decoded[] = [];
    for (const picture of scan.pictures) {
      // A picture that is not a QR code at all (a logo, a photo) decodes to nothing.
      const texts = await this.deps.decode(picture.png).catch(() => [] as string[]);
      decoded.push({ texts, label: picture.label });
    }
    const { codes, notes, problem } = classify(decoded, scan.pictures.length, scan.unreadable);
    const state = await this.state(tabId);
    Object.assign(state, { origin, codes, notes, problem, pageMerchant: scan.pageMerchant });
    // A pick the page no longer shows is forgotten (a new order came).
    if (state.choice && !codes.some((c) => c.payload === state.choice!.payload)) state.choice = null;
    await this.act(state);
  }

  /** The user picked a code (and typed an amount) in the popup. */
  async choose(tabId: number, payload: string, typed: string): Promise<{ ok: boolean; problem: string | null }> {
    const state = await this.state(tabId);
    const code = state.codes.find((c) => c.payload === payload);
    if (!code) return { ok: false, problem: "That code is no longer on the page: open the popup again." };
    const checked = checkChoice(code, typed);
    if (!checked.ok) return { ok: false, problem: checked.problem };
    state.choice = checked.choice;
    await this.act(state);
    return { ok: true, problem: null };
  }

  private async act(state: ScanState): Promise<void> {
    const { tabId } = state;
    const decision = decide(state.codes, state.problem, state.choice, state.shown);
    state.status = "done";
    state.at = this.iso();
    if (decision.kind === "publish") {
      const data = paymentData(decision.code, decision.amount, state.pageMerchant, state.origin);
      Object.assign(state, { shown: decision.code.payload, need: null, problem: null });
      await this.deps.save(state);
      await this.deps.publisher.pageOpened(tabId);
      await this.deps.publisher.capture(tabId, data);
      return;
    }
    // What the viewers show is no longer on the page: clear their screen.
    const wasShown = state.shown !== null;
    if (wasShown && !state.codes.some((c) => c.payload === state.shown && !c.problem)) {
      state.shown = null;
      await this.deps.publisher.orderOver(tabId, "cancelled");
    }
    if (decision.kind === "need") {
      Object.assign(state, { need: decision.need, problem: null });
      await this.deps.save(state);
      await this.deps.publisher.clearProblem(tabId);
      return;
    }
    Object.assign(state, { need: null, problem: decision.problem });
    await this.deps.save(state);
    // With the screen being cleared, the popup shows the problem from this state; the
    // badge says ERR only when nothing was on screen.
    if (!wasShown) await this.deps.publisher.pageProblem(tabId, decision.problem);
  }
}
