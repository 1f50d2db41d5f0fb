// Who the QR pays, in the words a customer checks before scanning: the wallet or bank
// and the account's last digits ("MoMo · BVBank ••••5080", "Vietcombank ••••4455"),
// and the QR's own name for the payee when it contradicts the merchant on screen.

import type { Payee, Payment, Provider } from "./protocol";

/** The label a customer knows each scheme by; a plain VietQR is named by its bank alone. */
const PROVIDER_LABELS: Record<Provider, string | null> = {
  MOMO: "MoMo",
  ZALOPAY: "ZaloPay",
  VNPAY: "VNPAY",
  VIETQR: null,
  EMVCO: null,
};

/**
 * A name as tag 59 would spell it, to compare with the merchant: decomposed (NFD), the
 * combining marks dropped, đ/Đ as d (not a combining mark, so NFD keeps it), runs of
 * spaces as one, upper case. `Cửa  hàng Đức` → `CUA HANG DUC`.
 */
export function foldName(name: string): string {
  return name
    .normalize("NFD")
    .replace(/\p{M}/gu, "")
    .replace(/[đĐ]/g, "d")
    .replace(/\s+/gu, " ")
    .trim()
    .toUpperCase();
}

/** Whether two names are the same once case and accents are folded. */
export function sameName(a: string, b: string): boolean {
  return foldName(a) === foldName(b);
}

/**
 * The line under the amount: the wallet's or VNPay's label first, then the bank (its
 * BIN when the gateway has no name for it), then the masked account; null when the
 * payee names none of them.
 */
export function payeeLine(payee: Payee): string | null {
  const label = PROVIDER_LABELS[payee.provider];
  const bank = payee.bankName ?? payee.bankBin;
  const head = [label, bank].filter((part) => part !== null).join(" · ");
  const line = [head, payee.account ?? ""].filter((part) => part !== "").join(" ");
  return line === "" ? null : line;
}

/** Who the screen says will be paid, and whether that is the QR's name against the merchant's. */
export interface PaidTo {
  name: string;
  /** The QR's tag 59 differs from `merchant` (folded): `name` is the QR's, and the page says so. */
  contradicted: boolean;
}

/**
 * The payee the screen shows: the merchant, unless the QR names someone else (tag 59
 * differs once folded); then the QR's name, since that is who the money goes to.
 */
export function paidTo(payment: Pick<Payment, "merchant" | "payee">): PaidTo {
  const qrName = payment.payee?.merchantName ?? null;
  if (qrName === null || sameName(qrName, payment.merchant)) {
    return { name: payment.merchant, contradicted: false };
  }
  return { name: qrName, contradicted: true };
}
