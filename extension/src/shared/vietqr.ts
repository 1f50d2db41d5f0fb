// EMVCo merchant-presented payment QR payloads (VietQR/NAPAS, VNPay-QR, MoMo and
// ZaloPay "QR đa năng"): the extension's one parser. The gateway applies the same rules
// in gateway/vietqr.py (with gateway/emvco.py), and both read the BIN → bank name table
// from gateway/data/napas_bins.json (bundled from there by the build, not copied), so
// the popup and the customer's screen name the same payee. test/fixtures/vietqr-vectors.json
// is checked against both parsers.
//
// A payload is a run of fields `ID(2 digits) LEN(2 digits) VALUE`. It starts with the
// format indicator "000201", ends with the CRC field "6304XXXX" (CRC-16/CCITT-FALSE over
// the UTF-8 bytes of everything before XXXX), names no tag twice and is at most 512
// characters. Lengths and positions count characters (code points), as Python's do.
// Merchant account templates are tags 26–51, each a nested TLV whose sub-tag 00 is a
// GUID: "A000000727" is NAPAS VietQR (sub-tag 01 = {00 acquirer BIN, 01 account or
// card}, 02 the service, QRIBFTTA to an account, QRIBFTTC to a card), "A000000775" is
// VNPay-QR (01 the merchant id). Tag 62 holds 01 the bill number and 08 the purpose.
// A nested template that is not well-formed TLV makes the whole payload invalid: a code
// whose beneficiary cannot be read must not be shown as payable.

import napasBins from "../../../gateway/data/napas_bins.json";

export type Provider = "VIETQR" | "VNPAY" | "MOMO" | "ZALOPAY" | "EMVCO";

/** What a payment QR says about who is paid, how much and what for. */
export interface PaymentQr {
  payload: string;
  provider: Provider;
  bankBin: string | null;
  /** The account or card number (or VNPay merchant id), in full. */
  account: string | null;
  /** Tag 54 as written ("150000", "89000.00"), or null for a static code. */
  amount: string | null;
  /** Tag 53, ISO 4217 numeric ("704" = VND). */
  currency: string | null;
  merchantName: string | null;
  billNumber: string | null;
  purpose: string | null;
}

/** SPEC §11.3's `payee`, as the gateway adds it to PAYMENT_DATA. */
export interface Payee {
  provider: Provider;
  bankBin: string | null;
  bankName: string | null;
  account: string | null;
  merchantName: string | null;
}

export type EmvErrorKind = "not-emvco" | "crc" | "malformed";

/** Raised when a text is not a well-formed EMVCo payment payload; `kind` says how. */
export class EmvError extends Error {
  constructor(
    readonly kind: EmvErrorKind,
    message: string,
  ) {
    super(message);
    this.name = "EmvError";
  }
}

export const MAX_LENGTH = 512;
export const NAPAS_GUID = "A000000727";
export const VNPAY_GUID = "A000000775";
export const VND = "704";
const ACCOUNT_TEMPLATES = Array.from({ length: 26 }, (_, i) => String(26 + i));
/** (acquirer BIN, account prefix) → the wallet whose account it is ("QR đa năng" via BVBank). */
const WALLETS: readonly { bin: string; prefix: string; provider: Provider }[] = [
  { bin: "970454", prefix: "99MM", provider: "MOMO" },
  { bin: "970454", prefix: "99ZP", provider: "ZALOPAY" },
];
/** Tag 54: digits with an optional "." decimal part ("1e5", "+5", "1,000" are refused). */
const AMOUNT = /^[0-9]+(?:\.[0-9]*)?$/;
const MASK = "••••";

const BANK_NAMES: ReadonlyMap<string, string> = new Map(
  Object.entries(napasBins as Record<string, string>).filter(([bin]) => !bin.startsWith("_")),
);

/** The bank's short name for a NAPAS acquirer BIN, or null when the table has none. */
export function bankName(bin: string | null): string | null {
  return bin ? (BANK_NAMES.get(bin) ?? null) : null;
}

/** CRC-16/CCITT-FALSE of the UTF-8 bytes of `text`, as 4 uppercase hex digits ("123456789" → "29B1"). */
export function crc16(text: string): string {
  let crc = 0xffff;
  for (const byte of new TextEncoder().encode(text)) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc.toString(16).toUpperCase().padStart(4, "0");
}

const TWO_DIGITS = /^[0-9]{2}$/;

/**
 * The fields of a TLV run, in order, as a Map (tag → value); `where` names the run in
 * errors ("payload", "template 38"). Characters are code points.
 */
export function parseTlv(text: string, where: string): Map<string, string> {
  const chars = Array.from(text);
  const fields = new Map<string, string>();
  let pos = 0;
  while (pos < chars.length) {
    const tag = chars.slice(pos, pos + 2).join("");
    const length = chars.slice(pos + 2, pos + 4).join("");
    if (!TWO_DIGITS.test(tag) || !TWO_DIGITS.test(length)) {
      throw new EmvError("malformed", `EMVCo ${where} is malformed at position ${pos}`);
    }
    const end = pos + 4 + Number(length);
    if (end > chars.length) throw new EmvError("malformed", `EMVCo ${where}: field ${tag} runs past its end`);
    if (fields.has(tag)) throw new EmvError("malformed", `EMVCo ${where}: field ${tag} appears twice`);
    fields.set(tag, chars.slice(pos + 4, end).join(""));
    pos = end;
  }
  return fields;
}

/** Whether `text` claims to be an EMVCo payload at all (a link or a login code does not). */
export function looksLikeEmvco(text: string): boolean {
  return text.startsWith("000201");
}

/** The top-level fields of `payload` after checking its length, frame and CRC. */
export function parseEmvco(payload: string): Map<string, string> {
  const chars = Array.from(payload);
  if (chars.length > MAX_LENGTH) {
    throw new EmvError("malformed", `EMVCo payload longer than ${MAX_LENGTH} characters`);
  }
  if (!looksLikeEmvco(payload)) {
    throw new EmvError("not-emvco", "EMVCo payload must start with the format indicator 000201");
  }
  if (chars.length < 8 || chars.slice(-8, -4).join("") !== "6304") {
    throw new EmvError("malformed", "EMVCo payload must end with the CRC field 6304XXXX");
  }
  // Compared without regard to case, as the gateway does (its emvco.parse).
  const body = chars.slice(0, -4).join("");
  if (crc16(body) !== chars.slice(-4).join("").toUpperCase()) {
    throw new EmvError("crc", "EMVCo payload CRC does not match");
  }
  const fields = parseTlv(payload, "payload");
  const tags = [...fields.keys()];
  if (tags[tags.length - 1] !== "63" || Array.from(fields.get("63") ?? "").length !== 4) {
    throw new EmvError("malformed", "EMVCo CRC field 63 must be the last field, 4 characters long");
  }
  return fields;
}

function walletOf(bin: string | null, account: string | null): Provider | null {
  const upper = (account ?? "").toUpperCase();
  return WALLETS.find((w) => w.bin === bin && upper.startsWith(w.prefix))?.provider ?? null;
}

/** Parses a payment QR payload (structure, CRC, nested templates); throws EmvError. */
export function parsePaymentQr(payload: string): PaymentQr {
  const fields = parseEmvco(payload);
  let provider: Provider = "EMVCO";
  let bankBin: string | null = null;
  let account: string | null = null;
  for (const tag of ACCOUNT_TEMPLATES) {
    const value = fields.get(tag);
    if (value === undefined) continue;
    const template = parseTlv(value, `template ${tag}`);
    if (provider !== "EMVCO") continue; // the first known template names the beneficiary; later ones are checked
    const guid = (template.get("00") ?? "").toUpperCase();
    if (guid === NAPAS_GUID) {
      const beneficiary = parseTlv(template.get("01") ?? "", `template ${tag}.01`);
      bankBin = beneficiary.get("00") || null;
      account = beneficiary.get("01") || null;
      if (bankBin === null || !/^[0-9]{6}$/.test(bankBin) || account === null) {
        // Nobody can pay it: a customer's app would refuse it, so do we (as the gateway does).
        throw new EmvError("malformed", `EMVCo template ${tag}: a VietQR code names a 6-digit BIN and an account`);
      }
      provider = walletOf(bankBin, account) ?? "VIETQR";
    } else if (guid === VNPAY_GUID) {
      provider = "VNPAY";
      account = template.get("01") || null;
    }
  }
  const extra = fields.has("62") ? parseTlv(fields.get("62")!, "template 62") : new Map<string, string>();
  const amount = fields.get("54") ?? null;
  if (amount !== null && !AMOUNT.test(amount)) {
    throw new EmvError("malformed", "EMVCo amount (tag 54) is not a number");
  }
  return {
    payload,
    provider,
    bankBin,
    account,
    amount,
    currency: fields.get("53") ?? null,
    merchantName: fields.get("59") || null,
    billNumber: extra.get("01") || null,
    purpose: extra.get("08") || null,
  };
}

/** Only the last four characters of an account number are ever shown. */
export function maskAccount(account: string | null): string | null {
  return account ? MASK + Array.from(account).slice(-4).join("") : null;
}

/** The `payee` the gateway derives from this code (SPEC §11.3). */
export function payeeOf(qr: PaymentQr): Payee {
  return {
    provider: qr.provider,
    bankBin: qr.bankBin,
    bankName: bankName(qr.bankBin),
    account: maskAccount(qr.account),
    merchantName: qr.merchantName,
  };
}

/**
 * Tag 54 as whole đồng: "150000" and "150000.00" → 150000; "1500.50" (VND has no minor
 * unit), zero and absurd sizes → null.
 */
export function wholeVnd(amount: string): number | null {
  const [units, fraction = ""] = amount.split(".");
  if (!units || /[^0]/.test(fraction)) return null;
  const value = Number(units);
  return Number.isSafeInteger(value) && value > 0 ? value : null;
}

/** ISO 4217 numeric codes a Vietnamese checkout may show, for messages. */
const CURRENCIES: Record<string, string> = {
  "704": "VND",
  "840": "USD",
  "978": "EUR",
  "156": "CNY",
  "392": "JPY",
  "410": "KRW",
  "764": "THB",
};

export function currencyName(code: string): string {
  return CURRENCIES[code] ?? `currency ${code}`;
}

/** Names for people: "VietQR", "MoMo", … */
export const PROVIDER_NAMES: Record<Provider, string> = {
  VIETQR: "VietQR",
  VNPAY: "VNPay-QR",
  MOMO: "MoMo",
  ZALOPAY: "ZaloPay",
  EMVCO: "EMVCo QR",
};

/** "VietQR · Vietcombank ••••4455 · CUA HANG AN": who the customer's app will pay, in one line. */
export function payeeText(payee: Payee): string {
  const bank = [payee.bankName ?? (payee.bankBin ? `BIN ${payee.bankBin}` : null), payee.account]
    .filter(Boolean)
    .join(" ");
  return [PROVIDER_NAMES[payee.provider], bank, payee.merchantName].filter(Boolean).join(" · ");
}
