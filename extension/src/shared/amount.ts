// Amounts as Vietnamese checkout pages print them: "300.000đ", "1.250.000 ₫",
// "300,000 VND". The đồng has no minor unit, so a valid amount is a whole number.

const CURRENCY = String.raw`(?:đồng|vnđ|vnd|đ|₫)`;
// A run of digits and separators, starting and ending on a digit, not inside a longer one.
const NUMBER = String.raw`(?<![\d.,])(\d(?:[\d.,\u00a0\u202f]*\d)?)(?![\d])`;
const TAGGED = new RegExp(
  String.raw`${NUMBER}\s*${CURRENCY}(?![\p{L}\p{N}])|(?<![\p{L}])${CURRENCY}\s*${NUMBER}`,
  "iu",
);
const BARE = new RegExp(String.raw`^${NUMBER}$`, "u");

/**
 * "300.000" / "300,000" / "300 000" (no-break or thin space, as Intl prints) /
 * "300000" → 300000, and "300.000,00" or "300,000.00" (zero minor units); anything
 * else (mixed or misplaced separators, "300.00", non-zero decimals) → null.
 */
function toInteger(number: string | undefined): number | null {
  if (number === undefined) return null;
  let body = number;
  const minor = /([.,])0{1,2}$/.exec(body);
  if (minor) {
    body = body.slice(0, -minor[0].length);
    const grouped = /\D/.exec(body)?.[0];
    // The decimal mark must differ from the grouping one; "300.00" is ambiguous.
    if (grouped === minor[1] || (grouped === undefined && minor[1] === ".")) return null;
  }
  const sep = /\D/.exec(body)?.[0];
  if (sep !== undefined) {
    const groups = body.split(sep);
    const [head, ...rest] = groups;
    if (!head || head.length > 3 || rest.some((g) => !/^\d{3}$/.test(g))) return null;
  } else if (!/^\d+$/.test(body)) {
    return null;
  }
  const value = Number(body.replace(/\D/g, ""));
  return Number.isSafeInteger(value) && value > 0 ? value : null;
}

/**
 * The integer VND amount in `text`: `"300.000đ"` → 300000. Text around the amount
 * is allowed ("Số tiền: 300.000đ"), and then the amount is the number written next
 * to a currency sign; without a sign the whole text must be the number. Returns null
 * for no amount, zero, or a number that is not a whole amount written one clear way.
 */
export function parseVndAmount(text: string | null | undefined): number | null {
  if (!text) return null;
  const clean = text
    .normalize("NFC")
    .replace(/[\u200b-\u200d\u2060\ufeff]/g, "")
    .trim();
  const tagged = TAGGED.exec(clean);
  if (tagged) return toInteger(tagged[1] ?? tagged[2]);
  return toInteger(BARE.exec(clean)?.[1]);
}

/** `300000` → `"300.000 ₫"`, as the popup shows it. */
export function formatVnd(amount: number): string {
  return new Intl.NumberFormat("vi-VN", { style: "currency", currency: "VND" }).format(amount);
}
