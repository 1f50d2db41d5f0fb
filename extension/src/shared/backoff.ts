// When to try a failed call again: Retry-After when the gateway gave one, else
// exponential backoff with full jitter, capped.

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
  /** Transient failures in a row before the tab shows an error and stops retrying. */
  maxAttempts: number;
  /** The longest Retry-After honoured by waiting; longer ones become an error. */
  maxRetryAfterMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = {
  baseMs: 500,
  maxMs: 20_000,
  maxAttempts: 6,
  maxRetryAfterMs: 120_000,
};

/**
 * Milliseconds to wait before attempt `attempt + 1` (attempt counts from 1), or null
 * to give up. `retryAfterSeconds` (429) is honoured exactly; `random` is in [0, 1).
 */
export function nextDelay(
  attempt: number,
  retryAfterSeconds: number | null,
  policy: BackoffPolicy = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number | null {
  if (retryAfterSeconds !== null) {
    const ms = retryAfterSeconds * 1000;
    return ms <= policy.maxRetryAfterMs ? ms : null;
  }
  if (attempt >= policy.maxAttempts) return null;
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** (attempt - 1));
  // "Equal jitter": at least half the ceiling, so retries never bunch at zero.
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
