// One viewer session per tab, and a loop per tab that brings the gateway to what the
// page shows ("desired"): publish the payment, or clear the screen. Each change of
// the desired state gets a generation number; a publish's Idempotency-Key is that
// generation and the payload's hash, so a retry (or a service worker restarted in the
// middle of a call) never publishes twice, while the same payment shown again after
// another one is a new publish. Transient failures are retried with backoff, 429
// after its Retry-After; everything else stops the loop and shows the error until
// the page changes or the user presses Retry.

import { DEFAULT_BACKOFF, nextDelay, type BackoffPolicy } from "../shared/backoff";
import { GatewayError, type GatewayClient } from "../shared/gateway";
import { canonicalJson, sha256Hex } from "../shared/hash";
import type { Desired, OrderStatus, PaymentData, Phase, TabState } from "../shared/types";

export interface TabStore {
  save(state: TabState): Promise<void>;
  remove(tabId: number): Promise<void>;
}

export interface PublisherDeps {
  store: TabStore;
  /** A client for the saved settings; throws GatewayError (unconfigured, permission). */
  client(): Promise<GatewayClient>;
  /** Shows a tab's state (the action badge). */
  show(state: TabState): void;
  sleep?(ms: number): Promise<void>;
  now?(): number;
  policy?: BackoffPolicy;
  random?(): number;
}

/** Rate-limit waits in a row before giving up (each honours Retry-After). */
const MAX_RATE_LIMITED = 20;

export function newTabState(tabId: number): TabState {
  return {
    tabId,
    session: null,
    renewedFrom: null,
    desired: null,
    gen: 0,
    ackedGen: 0,
    live: null,
    cleared: null,
    phase: "idle",
    lastError: null,
    lastErrorAt: null,
    pageOpen: true,
  };
}

function sameDesired(a: Desired | null, b: Desired): boolean {
  if (!a || a.kind !== b.kind) return false;
  return a.kind === "publish" ? a.hash === (b as typeof a).hash : a.reason === (b as typeof a).reason;
}

export class Publisher {
  private readonly tabs = new Map<number, TabState>();
  private readonly running = new Map<number, Promise<void>>();
  private readonly closed = new Set<number>();
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;
  private readonly policy: BackoffPolicy;
  private readonly random: () => number;

  constructor(private readonly deps: PublisherDeps) {
    this.sleep = deps.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.now = deps.now ?? Date.now;
    this.policy = deps.policy ?? DEFAULT_BACKOFF;
    this.random = deps.random ?? Math.random;
  }

  /** Takes over the states kept by a previous run of the service worker. */
  restore(states: Iterable<TabState>): void {
    for (const state of states) this.tabs.set(state.tabId, state);
  }

  get(tabId: number): TabState | undefined {
    return this.tabs.get(tabId);
  }

  all(): TabState[] {
    return [...this.tabs.values()];
  }

  /** The page shows this payment. */
  async capture(tabId: number, data: PaymentData): Promise<void> {
    const hash = await sha256Hex(canonicalJson(data));
    await this.want(tabId, { kind: "publish", data, hash });
  }

  /** The page says the order is over. */
  async orderOver(tabId: number, status: Exclude<OrderStatus, "pending">): Promise<void> {
    await this.want(tabId, { kind: "clear", reason: status === "paid" ? "paid" : "cancelled" });
  }

  /** The page could not be read (shown in the popup; nothing is sent). */
  async pageProblem(tabId: number, message: string): Promise<void> {
    const state = this.state(tabId);
    await this.update(state, { phase: "error", lastError: message, lastErrorAt: this.iso() });
  }

  /** The page's earlier problem is over (it now shows codes to choose from): no error on the badge. */
  async clearProblem(tabId: number): Promise<void> {
    const state = this.tabs.get(tabId);
    // An error while a change is unacknowledged is the gateway's, and stays until retried.
    if (!state || state.phase !== "error" || state.ackedGen < state.gen) return;
    await this.update(state, { phase: state.live ? "live" : "idle", lastError: null, lastErrorAt: null });
  }

  async pageOpened(tabId: number): Promise<void> {
    const state = this.state(tabId);
    if (!state.pageOpen) await this.update(state, { pageOpen: true });
  }

  /** The checkout page left the tab (closed, navigated away, reloaded and not back). */
  async pageLeft(tabId: number): Promise<void> {
    const state = this.tabs.get(tabId);
    if (!state) return;
    await this.update(state, { pageOpen: false });
    await this.want(tabId, { kind: "clear", reason: "cancelled" });
  }

  /** The tab was closed: clear its screen, then forget it. */
  async tabClosed(tabId: number): Promise<void> {
    if (!this.tabs.has(tabId)) return;
    this.closed.add(tabId);
    await this.pageLeft(tabId);
    await this.settled(tabId);
    if (this.closed.delete(tabId)) {
      // Nothing was left to do, so no loop ran to forget the tab.
      this.tabs.delete(tabId);
      await this.deps.store.remove(tabId);
    }
  }

  /**
   * The tab's session ran out while its page still shows a payment: make a new
   * session now (the popup shows its link) rather than at the page's next change.
   */
  async renewIfExpired(tabId: number): Promise<void> {
    const state = this.tabs.get(tabId);
    if (!state?.session || !state.live || state.desired?.kind !== "publish") return;
    if (Date.parse(state.session.expiresAt) > this.now() || state.ackedGen < state.gen) return;
    await this.update(state, {
      session: null,
      renewedFrom: state.session.sessionId,
      gen: state.gen + 1, // the same data, published anew into the new session
    });
    await this.kick(tabId);
  }

  /**
   * The gateway URL or API key changed: the tabs' sessions belong to the old ones.
   * Each tab gets a new session, and what its page shows is published there.
   */
  async settingsChanged(): Promise<void> {
    for (const state of this.tabs.values()) {
      if (!state.session) continue;
      const republish = state.desired?.kind === "publish" && state.pageOpen;
      await this.update(state, {
        session: null,
        renewedFrom: state.session.sessionId,
        live: null,
        ...(republish ? { gen: state.gen + 1 } : {}),
      });
      if (republish) await this.kick(state.tabId);
    }
  }

  /** Try again now (the popup's Retry button). */
  retry(tabId: number): Promise<void> {
    const state = this.tabs.get(tabId);
    if (state && state.ackedGen < state.gen) return this.kick(tabId);
    return Promise.resolve();
  }

  /** Resolves when the tab's loop (if any) has finished. */
  async settled(tabId: number): Promise<void> {
    await this.running.get(tabId);
  }

  /** Restarts the loops that a stopped service worker left unfinished. */
  resume(): void {
    for (const state of this.tabs.values()) {
      if (state.ackedGen < state.gen && state.phase === "working") void this.kick(state.tabId);
    }
  }

  private state(tabId: number): TabState {
    let state = this.tabs.get(tabId);
    if (!state) {
      state = newTabState(tabId);
      this.tabs.set(tabId, state);
    }
    return state;
  }

  private async want(tabId: number, desired: Desired): Promise<void> {
    const state = this.state(tabId);
    if (sameDesired(state.desired, desired)) {
      // Said again (the content script reconnected): only finish what is unfinished.
      if (state.ackedGen < state.gen) await this.kick(tabId);
      return;
    }
    await this.update(state, { desired, gen: state.gen + 1 });
    await this.kick(tabId);
  }

  private kick(tabId: number): Promise<void> {
    const running = this.running.get(tabId);
    if (running) return Promise.resolve(); // the running loop reads the new state
    const loop = this.loop(tabId).finally(() => {
      this.running.delete(tabId);
      if (this.closed.has(tabId)) {
        this.closed.delete(tabId);
        this.tabs.delete(tabId);
        void this.deps.store.remove(tabId);
      }
    });
    this.running.set(tabId, loop);
    return Promise.resolve();
  }

  private async loop(tabId: number): Promise<void> {
    let failures = 0;
    let rateLimited = 0;
    let renewals = 0;
    for (;;) {
      const state = this.tabs.get(tabId);
      if (!state || !state.desired || state.ackedGen >= state.gen) return;
      const { desired, gen } = state;
      if (state.phase !== "working") await this.update(state, { phase: "working" });
      try {
        await this.apply(state, desired, gen);
        failures = rateLimited = 0;
      } catch (caught) {
        const error =
          caught instanceof GatewayError ? caught : new GatewayError("network", `Unexpected error: ${String(caught)}`);
        if (error.kind === "session-gone") {
          if (desired.kind === "clear") {
            // The screen of an expired session shows "expired" already: nothing to clear.
            await this.update(state, { ackedGen: gen, live: null, phase: "idle", lastError: null });
            continue;
          }
          if (++renewals > 2) {
            await this.fail(state, error.message);
            return;
          }
          await this.update(state, { session: null, renewedFrom: state.session?.sessionId ?? state.renewedFrom });
          continue;
        }
        if (!error.transient) {
          await this.fail(state, error.message);
          return;
        }
        const rate = error.kind === "rate-limited";
        const delay =
          rate && ++rateLimited > MAX_RATE_LIMITED
            ? null
            : nextDelay(rate ? 1 : ++failures, rate ? error.retryAfter : null, this.policy, this.random);
        if (delay === null) {
          await this.fail(state, error.message);
          return;
        }
        const retrying = rate
          ? `${error.message}. The extension will retry then.`
          : `${error.message}. Retrying in ${Math.ceil(delay / 1000)} s.`;
        await this.update(state, { lastError: retrying, lastErrorAt: this.iso() });
        await this.sleep(delay);
      }
    }
  }

  /** One call to the gateway for `desired`; records the result in the state. */
  private async apply(state: TabState, desired: Desired, gen: number): Promise<void> {
    if (desired.kind === "clear") {
      if (!state.session || !state.live) {
        await this.update(state, { ackedGen: gen, phase: "idle", lastError: null });
        return;
      }
      const client = await this.deps.client();
      const result = await client.clear(state.session.token, desired.reason, `clear-${gen}-${desired.reason}`);
      await this.update(state, {
        ackedGen: gen,
        live: null,
        cleared: { reason: desired.reason, seq: result.seq, at: this.iso() },
        phase: "idle",
        lastError: null,
        lastErrorAt: null,
      });
      return;
    }
    const client = await this.deps.client();
    if (!state.session) {
      const session = await client.createSession();
      await this.update(state, { session });
    }
    const token = state.session!.token;
    const result = await client.publish(token, desired.data, `pub-${gen}-${desired.hash.slice(0, 40)}`);
    await this.update(state, {
      ackedGen: gen,
      live: {
        merchant: desired.data.merchant,
        amount: desired.data.amount,
        orderId: desired.data.orderId ?? null,
        seq: result.seq,
        at: this.iso(),
      },
      cleared: null,
      phase: "live",
      lastError: null,
      lastErrorAt: null,
    });
  }

  private async fail(state: TabState, message: string): Promise<void> {
    await this.update(state, { phase: "error" as Phase, lastError: message, lastErrorAt: this.iso() });
  }

  private async update(state: TabState, changes: Partial<TabState>): Promise<void> {
    Object.assign(state, changes);
    this.deps.show(state);
    await this.deps.store.save(state);
  }

  private iso(): string {
    return new Date(this.now()).toISOString();
  }
}
