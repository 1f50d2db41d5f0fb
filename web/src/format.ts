// Amounts and countdowns as the customer reads them.

const formatters = new Map<string, Intl.NumberFormat>();

/** `300000` → `300.000 ₫` (Vietnamese grouping whatever the page language: it is VND). */
export function formatAmount(amount: number, currency = "VND"): string {
  let formatter = formatters.get(currency);
  if (formatter === undefined) {
    try {
      formatter = new Intl.NumberFormat("vi-VN", { style: "currency", currency, maximumFractionDigits: 0 });
    } catch {
      // Not an ISO 4217 code the browser knows: grouped digits and the code.
      const digits = new Intl.NumberFormat("vi-VN", { maximumFractionDigits: 0 });
      return `${digits.format(amount)}\u00a0${currency}`;
    }
    formatters.set(currency, formatter);
  }
  return formatter.format(amount);
}

/** A countdown: `9:05` → `09:05`, over an hour `1:02:03`; never negative. */
export function formatCountdown(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  const mm = String(minutes).padStart(2, "0");
  const ss = String(seconds).padStart(2, "0");
  return hours > 0 ? `${hours}:${mm}:${ss}` : `${mm}:${ss}`;
}
