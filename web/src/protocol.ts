// The gateway's WebSocket protocol as the viewer sees it (SPEC §4): server messages are
// parsed defensively (anything malformed is dropped), close codes are classified.

export interface Payment {
  seq: number;
  /** A `data:image/png;base64,…` URI, or an EMVCo payload rendered client-side. */
  qrCode: string;
  merchant: string;
  amount: number;
  currency: string;
  orderId: string | null;
  description: string | null;
  /** Epoch milliseconds (server clock) after which the QR is no longer payable. */
  expiresAt: number | null;
  deeplink: string | null;
  /** Who the QR pays, as the gateway read it from an EMVCo payload (SPEC §11.3); null for a PNG. */
  payee: Payee | null;
}

export type Provider = "VIETQR" | "VNPAY" | "MOMO" | "ZALOPAY" | "EMVCO";

/** `PAYMENT_DATA.payload.payee` (SPEC §11.3): the beneficiary the QR itself names. */
export interface Payee {
  provider: Provider;
  /** The NAPAS BIN of the beneficiary's bank, `970436`. */
  bankBin: string | null;
  /** The bank's short name, `Vietcombank`. */
  bankName: string | null;
  /** The account's last 4 characters behind bullets, `••••4455`. */
  account: string | null;
  /** Tag 59 of the QR, `CUA HANG AN`. */
  merchantName: string | null;
}

export type ClearReason = "paid" | "cancelled" | "replaced";

export type ServerMessage =
  | { type: "SESSION_INFO"; ts: number | null; sessionId: string; expiresAt: number | null; hasData: boolean }
  | { type: "PAYMENT_DATA"; ts: number | null; payment: Payment }
  | { type: "PAYMENT_CLEARED"; ts: number | null; seq: number; reason: ClearReason }
  | { type: "SESSION_EXPIRED"; ts: number | null }
  | { type: "PONG"; ts: number | null }
  | { type: "ERROR"; ts: number | null };

export const PNG_DATA_URI = "data:image/png;base64,";

type Obj = Record<string, unknown>;

function isObj(value: unknown): value is Obj {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}

/** An ISO 8601 time as epoch milliseconds, or null when absent or unparseable. */
export function parseTime(value: unknown): number | null {
  if (typeof value !== "string") return null;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : null;
}

function isSeq(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 1;
}

const PROVIDERS: readonly string[] = ["VIETQR", "VNPAY", "MOMO", "ZALOPAY", "EMVCO"];

function nonEmpty(value: unknown): string | null {
  return typeof value === "string" && value.trim() !== "" ? value : null;
}

/**
 * The `payee` of a payment, or null when there is none. A provider the page does not
 * know counts as a plain EMVCo payload (it still shows what it has), and an account is
 * cut to its last 4 characters whatever arrives: the screen never shows more of it.
 */
export function parsePayee(value: unknown): Payee | null {
  if (!isObj(value)) return null;
  const provider = str(value.provider);
  const account = nonEmpty(value.account)?.replace(/^[•*.\s]+/u, "") ?? "";
  return {
    provider: (provider !== null && PROVIDERS.includes(provider) ? provider : "EMVCO") as Provider,
    bankBin: nonEmpty(value.bankBin),
    bankName: nonEmpty(value.bankName),
    account: account === "" ? null : `••••${Array.from(account).slice(-4).join("")}`,
    merchantName: nonEmpty(value.merchantName),
  };
}

/** The payment of a PAYMENT_DATA payload, or null if it is not one the page can show. */
export function parsePayment(payload: unknown): Payment | null {
  if (!isObj(payload)) return null;
  const { seq, qrCode, merchant, amount } = payload;
  if (!isSeq(seq) || typeof qrCode !== "string" || typeof merchant !== "string") return null;
  if (typeof amount !== "number" || !Number.isSafeInteger(amount) || amount < 1) return null;
  if (qrCode.length === 0 || merchant.length === 0) return null;
  const deeplink = str(payload.deeplink);
  return {
    seq,
    qrCode,
    merchant,
    amount,
    currency: str(payload.currency) ?? "VND",
    orderId: str(payload.orderId),
    description: str(payload.description),
    expiresAt: parseTime(payload.expiresAt),
    // The gateway allows momo:// and https:// on its list; anything else is not a link.
    deeplink: deeplink !== null && /^(momo|https):\/\//i.test(deeplink) ? deeplink : null,
    payee: parsePayee(payload.payee),
  };
}

const CLEAR_REASONS: readonly string[] = ["paid", "cancelled", "replaced"];

/** One server frame, or null when it is not JSON or not a message the page knows. */
export function parseMessage(text: unknown): ServerMessage | null {
  if (typeof text !== "string") return null;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isObj(raw) || typeof raw.type !== "string") return null;
  const ts = parseTime(raw.ts);
  const payload = isObj(raw.payload) ? raw.payload : {};
  switch (raw.type) {
    case "SESSION_INFO": {
      const sessionId = str(payload.sessionId);
      if (sessionId === null) return null;
      return {
        type: "SESSION_INFO",
        ts,
        sessionId,
        expiresAt: parseTime(payload.expiresAt),
        hasData: payload.hasData === true,
      };
    }
    case "PAYMENT_DATA": {
      const payment = parsePayment(payload);
      return payment === null ? null : { type: "PAYMENT_DATA", ts, payment };
    }
    case "PAYMENT_CLEARED": {
      if (!isSeq(payload.seq)) return null;
      const reason = str(payload.reason);
      return {
        type: "PAYMENT_CLEARED",
        ts,
        seq: payload.seq,
        reason: (reason !== null && CLEAR_REASONS.includes(reason) ? reason : "cancelled") as ClearReason,
      };
    }
    case "SESSION_EXPIRED":
    case "PONG":
    case "ERROR":
      return { type: raw.type, ts };
    default:
      return null;
  }
}

/** Close codes of SPEC §4 and what the page does about each. */
export const CLOSE = {
  GOING_AWAY: 1001,
  INVALID: 4401,
  FULL: 4403,
  UNKNOWN: 4404,
  SLOW: 4408,
  EXPIRED: 4410,
  RATE_LIMITED: 4429,
} as const;

/** Why a connection ended, as far as the page is concerned. */
export type CloseKind =
  | "invalid" // 4401: stop
  | "unknown" // 4404: stop
  | "expired" // 4410: stop
  | "full" // 4403: retry, slowly
  | "rateLimited" // 4429: back off
  | "lost"; // anything else: reconnect

export function classifyClose(code: number): CloseKind {
  switch (code) {
    case CLOSE.INVALID:
      return "invalid";
    case CLOSE.UNKNOWN:
      return "unknown";
    case CLOSE.EXPIRED:
      return "expired";
    case CLOSE.FULL:
      return "full";
    case CLOSE.RATE_LIMITED:
      return "rateLimited";
    default:
      return "lost";
  }
}

/** Whether the page gives up on the session after this close (SPEC §4: 4401/4404/4410). */
export function isFinal(kind: CloseKind): kind is "invalid" | "unknown" | "expired" {
  return kind === "invalid" || kind === "unknown" || kind === "expired";
}

/** The token of a `/qr/<token>` path (URL-decoded), or "" when there is none. */
export function tokenFromPath(pathname: string): string {
  const match = /^\/qr\/(.+)$/.exec(pathname);
  if (!match?.[1]) return "";
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return match[1];
  }
}

/**
 * The viewer socket's URL: the configured `ws(s)://host[:port]` base (the gateway's
 * `server.ws_public_url`), else this page's own origin with ws/wss for http/https.
 */
export function socketUrl(token: string, configured: string, location: { protocol: string; host: string }): string {
  let base = configured.trim().replace(/\/+$/, "");
  if (!/^wss?:\/\/[^/?#]+/i.test(base)) {
    base = `${location.protocol === "http:" ? "ws" : "wss"}://${location.host}`;
  }
  return `${base}/?token=${encodeURIComponent(token)}`;
}
