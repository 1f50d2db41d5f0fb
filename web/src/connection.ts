// The viewer socket's life: connect, heartbeat, and reconnect with capped exponential
// backoff and jitter until the session is over (SPEC §4). It reports what happens as
// ViewEvents; what to show is state.ts's business.

import { classifyClose, isFinal, parseMessage, type CloseKind } from "./protocol";
import type { RetryReason, ViewEvent } from "./state";

/** The part of the browser's WebSocket the connection uses (tests pass a fake). */
export interface SocketLike {
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export interface ConnectionOptions {
  url: string;
  /** The gateway's `websocket.idle_timeout_seconds`, in ms: a dead link is noticed within it. */
  idleTimeoutMs: number;
  onEvent: (event: ViewEvent) => void;
  createSocket?: (url: string) => SocketLike;
  random?: () => number;
  now?: () => number;
}

const OPEN = 1;
/** First retry after 0.5–1 s, then doubling… */
export const BACKOFF_BASE_MS = 1000;
/** …up to 15–30 s. */
export const BACKOFF_CAP_MS = 30_000;
/** A full session frees a seat only when a viewer leaves: no hurry. */
export const FULL_MIN_MS = 10_000;
/** Rate limited (4429): connects per IP are counted per minute, so back off well. */
export const RATE_LIMITED_MIN_MS = 20_000;

/**
 * The wait before retry number `attempt` (1, 2, …): an exponential ceiling, capped,
 * raised for 4403/4429, of which a random half is waited ("equal jitter"), so that
 * screens dropped together by a restart do not all come back at the same instant.
 */
export function backoffDelay(attempt: number, reason: RetryReason, random: () => number): number {
  const minimum = reason === "rateLimited" ? RATE_LIMITED_MIN_MS : reason === "full" ? FULL_MIN_MS : 0;
  const exponential = BACKOFF_BASE_MS * 2 ** Math.min(Math.max(attempt - 1, 0), 16);
  const ceiling = Math.min(BACKOFF_CAP_MS, Math.max(minimum, exponential));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * How often the page sends PING: a quarter of the idle timeout (at least 1 s), and a
 * link with nothing received for two of those is dead, so a dead one is noticed within
 * three quarters of the idle timeout, before the server gives up on it too.
 */
export function heartbeatInterval(idleTimeoutMs: number): number {
  return Math.max(1000, Math.floor(idleTimeoutMs / 4));
}

export class Connection {
  private readonly options: Required<ConnectionOptions>;
  private socket: SocketLike | null = null;
  private attempt = 0;
  private lastReceived = 0;
  private heartbeat: ReturnType<typeof setInterval> | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private expired = false;
  private stopped = false;

  constructor(options: ConnectionOptions) {
    this.options = {
      createSocket: (url) => new WebSocket(url) as unknown as SocketLike,
      random: Math.random,
      now: Date.now,
      ...options,
    };
  }

  /** Open the first connection. */
  start(): void {
    this.connect();
  }

  /** Drop everything; no event follows. */
  stop(): void {
    this.stopped = true;
    this.clearRetry();
    this.drop();
  }

  /** While waiting to retry (say the network came back), retry at once. */
  retryNow(): void {
    if (this.retryTimer === null || this.stopped) return;
    this.clearRetry();
    this.connect();
  }

  private connect(): void {
    const { options } = this;
    options.onEvent({ type: "connecting", attempt: this.attempt });
    let socket: SocketLike;
    try {
      socket = options.createSocket(options.url);
    } catch {
      // A URL the browser refuses outright: nothing a retry could change.
      this.end("invalid");
      return;
    }
    this.socket = socket;
    this.lastReceived = options.now();
    socket.onmessage = (event) => this.onMessage(event.data);
    socket.onclose = (event) => this.onClose(event.code);
    socket.onerror = () => {}; // a close event follows, with the code that matters
    const interval = heartbeatInterval(options.idleTimeoutMs);
    this.heartbeat = setInterval(() => this.beat(interval), interval);
  }

  /** Each heartbeat: declare the link dead after two silent intervals, else PING. */
  private beat(interval: number): void {
    const socket = this.socket;
    if (socket === null) return;
    if (this.options.now() - this.lastReceived >= 2 * interval) {
      // A frozen peer may never finish a closing handshake: do not wait for onclose.
      this.drop();
      this.scheduleRetry("lost");
      return;
    }
    if (socket.readyState === OPEN) socket.send('{"type":"PING"}');
  }

  private onMessage(data: unknown): void {
    const receivedAt = this.options.now();
    this.lastReceived = receivedAt;
    const message = parseMessage(data);
    if (message === null) return;
    if (message.type === "SESSION_INFO") this.attempt = 0;
    if (message.type === "SESSION_EXPIRED") this.expired = true;
    this.options.onEvent({ type: "message", message, receivedAt });
  }

  private onClose(code: number): void {
    this.drop();
    const kind: CloseKind = this.expired ? "expired" : classifyClose(code);
    if (isFinal(kind)) this.end(kind);
    else this.scheduleRetry(kind);
  }

  private scheduleRetry(reason: RetryReason): void {
    if (this.stopped) return;
    this.attempt += 1;
    const delay = backoffDelay(this.attempt, reason, this.options.random);
    this.options.onEvent({ type: "retrying", attempt: this.attempt, reason, retryAt: this.options.now() + delay });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
  }

  private end(reason: "invalid" | "unknown" | "expired"): void {
    this.stopped = true;
    this.options.onEvent({ type: "ended", reason });
  }

  private clearRetry(): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  /** Forget the current socket: no handler of it runs again. */
  private drop(): void {
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    this.heartbeat = null;
    const socket = this.socket;
    this.socket = null;
    if (socket === null) return;
    socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
    try {
      socket.close();
    } catch {
      // already closed
    }
  }
}
