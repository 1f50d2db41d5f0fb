// What the page knows, as a pure reducer over the events of the connection
// (connection.ts), and the one screen it shows for that knowledge at a given time.

import type { ClearReason, CloseKind, Payment, ServerMessage } from "./protocol";

export type RetryReason = Exclude<CloseKind, "invalid" | "unknown" | "expired">;
/** `noLink`: the page was opened without a token (`/qr/`, the installed app's start). */
export type EndReason = "invalid" | "unknown" | "expired" | "noLink";

export type Conn =
  /** A socket is being opened; `attempt` 0 is the first connection, n ≥ 1 the n-th retry. */
  | { kind: "connecting"; attempt: number }
  /** SESSION_INFO arrived: the session is live. */
  | { kind: "open" }
  /** The last socket closed; retry number `attempt` starts at `retryAt` (client clock). */
  | { kind: "retrying"; attempt: number; reason: RetryReason; retryAt: number }
  /** 4401, 4404, 4410 or SESSION_EXPIRED (or no token at all): nothing left to wait for. */
  | { kind: "ended"; reason: EndReason };

export interface ViewState {
  conn: Conn;
  sessionExpiresAt: number | null;
  /** The payment on screen (server clock times), null while waiting or disconnected. */
  payment: Payment | null;
  /** Why the last payment was cleared, until a new one arrives. */
  cleared: ClearReason | null;
  /** The seq last put on screen, across connections: a different one flashes. */
  shownSeq: number | null;
  /** Whether the payment on screen replaced another (the flash). */
  replaced: boolean;
  /** Server clock minus client clock, from the `ts` of the latest message. */
  clockOffsetMs: number;
}

export type ViewEvent =
  | { type: "connecting"; attempt: number }
  | { type: "message"; message: ServerMessage; receivedAt: number }
  | { type: "retrying"; attempt: number; reason: RetryReason; retryAt: number }
  | { type: "ended"; reason: EndReason };

export const initialState: ViewState = {
  conn: { kind: "connecting", attempt: 0 },
  sessionExpiresAt: null,
  payment: null,
  cleared: null,
  shownSeq: null,
  replaced: false,
  clockOffsetMs: 0,
};

export function reduce(state: ViewState, event: ViewEvent): ViewState {
  switch (event.type) {
    case "connecting":
      return { ...state, conn: { kind: "connecting", attempt: event.attempt } };
    case "retrying":
      // Off line, the page cannot know whether the QR is still payable: hide it.
      return {
        ...state,
        conn: { kind: "retrying", attempt: event.attempt, reason: event.reason, retryAt: event.retryAt },
        payment: null,
      };
    case "ended":
      return { ...state, conn: { kind: "ended", reason: event.reason }, payment: null };
    case "message":
      return onMessage(state, event.message, event.receivedAt);
  }
}

function onMessage(state: ViewState, message: ServerMessage, receivedAt: number): ViewState {
  if (state.conn.kind === "ended") return state;
  const clockOffsetMs = message.ts === null ? state.clockOffsetMs : message.ts - receivedAt;
  const next = { ...state, clockOffsetMs };
  switch (message.type) {
    case "SESSION_INFO":
      // A fresh view of the session: its data, if any, follows at once (late join).
      return { ...next, conn: { kind: "open" }, sessionExpiresAt: message.expiresAt, payment: null };
    case "PAYMENT_DATA": {
      const { payment } = message;
      if (state.payment !== null && payment.seq < state.payment.seq) return next; // never older
      const isNew = payment.seq !== state.shownSeq;
      return {
        ...next,
        payment,
        cleared: null,
        shownSeq: payment.seq,
        replaced: isNew ? state.shownSeq !== null : state.replaced,
      };
    }
    case "PAYMENT_CLEARED":
      if (state.payment !== null && message.seq < state.payment.seq) return next;
      return { ...next, payment: null, cleared: message.reason, shownSeq: message.seq, replaced: false };
    case "SESSION_EXPIRED":
      return { ...next, conn: { kind: "ended", reason: "expired" }, payment: null };
    case "PONG":
    case "ERROR":
      return next;
  }
}

export type Screen =
  | { kind: "connecting" }
  | { kind: "reconnecting"; attempt: number }
  | { kind: "full"; attempt: number }
  | { kind: "rateLimited"; retryInSeconds: number }
  | { kind: "waiting"; cleared: ClearReason | null }
  | { kind: "payment"; payment: Payment; replaced: boolean }
  | { kind: "qrExpired"; payment: Payment }
  | { kind: "expired" }
  | { kind: "invalid" }
  | { kind: "unknown" }
  | { kind: "noLink" };

/** The screen for `state` at client time `now` (ms). */
export function screenOf(state: ViewState, now: number): Screen {
  const { conn } = state;
  switch (conn.kind) {
    case "ended":
      return { kind: conn.reason };
    case "connecting":
      return conn.attempt === 0 ? { kind: "connecting" } : { kind: "reconnecting", attempt: conn.attempt };
    case "retrying":
      if (conn.reason === "full") return { kind: "full", attempt: conn.attempt };
      if (conn.reason === "rateLimited") {
        return { kind: "rateLimited", retryInSeconds: Math.max(0, Math.ceil((conn.retryAt - now) / 1000)) };
      }
      return { kind: "reconnecting", attempt: conn.attempt };
    case "open": {
      const { payment } = state;
      if (payment === null) return { kind: "waiting", cleared: state.cleared };
      // SPEC §5: viewers stop showing a QR whose expiresAt passed.
      if (payment.expiresAt !== null && payment.expiresAt <= serverNow(state, now)) {
        return { kind: "qrExpired", payment };
      }
      return { kind: "payment", payment, replaced: state.replaced };
    }
  }
}

/** The server's clock at client time `now`, as far as the messages' `ts` tell. */
export function serverNow(state: ViewState, now: number): number {
  return now + state.clockOffsetMs;
}
