// The viewer page: one screen per state of the session (state.ts), in the customer's
// language. Every payload field is rendered as text or as an attribute by React:
// nothing from the gateway is ever parsed as HTML.

import { useEffect, useMemo, useReducer, useState } from "react";
import { Connection } from "./connection";
import { formatAmount, formatCountdown } from "./format";
import { canGoFullscreen, goFullscreen } from "./fullscreen";
import { MESSAGES, type Lang, type Messages } from "./i18n";
import { paidTo, payeeLine } from "./payee";
import { PNG_DATA_URI, type ClearReason, type Payment } from "./protocol";
import { qrPath } from "./qr";
import { initialState, reduce, screenOf, serverNow, type Screen, type ViewState } from "./state";
import { ScreenWakeLock, type WakeLockLike, type WakeLockStatus } from "./wakelock";

export interface AppProps {
  /** The viewer socket URL with the token, or null when the page has no token at all. */
  url: string | null;
  idleTimeoutMs: number;
  lang: Lang;
}

/** How often countdowns (and the QR's expiry) are re-rendered. */
const TICK_MS = 500;

export function App({ url, idleTimeoutMs, lang }: AppProps) {
  const [state, dispatch] = useReducer(
    reduce,
    url === null ? { ...initialState, conn: { kind: "ended", reason: "noLink" } } : initialState,
  );
  const [, setTick] = useState(0);

  useEffect(() => {
    if (url === null) return undefined;
    const connection = new Connection({ url, idleTimeoutMs, onEvent: dispatch });
    const online = () => connection.retryNow();
    window.addEventListener("online", online);
    connection.start();
    return () => {
      window.removeEventListener("online", online);
      connection.stop();
    };
  }, [url, idleTimeoutMs]);

  useEffect(() => {
    const timer = setInterval(() => setTick((tick) => tick + 1), TICK_MS);
    return () => clearInterval(timer);
  }, []);

  // A screen that shows a QR or waits for one stays on; an ended session lets it sleep.
  const wakeLock = useWakeLock(state.conn.kind !== "ended");
  const fullscreen = useFullscreenOffer();

  // Read the clock on every render, not only on ticks: a payment that just arrived
  // must not be measured against a time from before it.
  return (
    <View
      state={state}
      now={Date.now()}
      t={MESSAGES[lang]}
      wakeLock={wakeLock}
      onFullscreen={fullscreen ? () => goFullscreen(document) : null}
    />
  );
}

/** Hold a screen wake lock while `wanted` (wakelock.ts); its status, for the page's `data-wake-lock`. */
function useWakeLock(wanted: boolean): WakeLockStatus {
  const [lock, setLock] = useState<ScreenWakeLock | null>(null);
  const [status, setStatus] = useState<WakeLockStatus>("off");
  useEffect(() => {
    const api = (navigator as { wakeLock?: WakeLockLike }).wakeLock;
    const created = new ScreenWakeLock(api, document, setStatus);
    setStatus(created.current);
    setLock(created);
    return () => created.dispose();
  }, []);
  useEffect(() => {
    lock?.want(wanted);
  }, [lock, wanted]);
  return status;
}

/** Whether to offer the fullscreen button now (fullscreen.ts). */
function useFullscreenOffer(): boolean {
  const [offer, setOffer] = useState(false);
  useEffect(() => {
    const media = (query: string) => window.matchMedia(query);
    const update = () => setOffer(canGoFullscreen(document, media));
    const installed = window.matchMedia("(display-mode: fullscreen)");
    update();
    document.addEventListener("fullscreenchange", update);
    installed.addEventListener("change", update);
    return () => {
      document.removeEventListener("fullscreenchange", update);
      installed.removeEventListener("change", update);
    };
  }, []);
  return offer;
}

export interface ViewProps {
  state: ViewState;
  now: number;
  t: Messages;
  /** Shown as the page's `data-wake-lock` (the e2e tests read it). */
  wakeLock?: WakeLockStatus;
  /** The fullscreen button's action, or null to show none. */
  onFullscreen?: (() => void) | null;
}

export function View({ state, now, t, wakeLock = "unsupported", onFullscreen = null }: ViewProps) {
  const screen = screenOf(state, now);
  const sessionLeft =
    state.conn.kind === "open" && state.sessionExpiresAt !== null
      ? state.sessionExpiresAt - serverNow(state, now)
      : null;
  return (
    <main
      className={`page page--${screen.kind}${onFullscreen === null ? "" : " page--offers-fullscreen"}`}
      data-screen={screen.kind}
      data-wake-lock={wakeLock}
    >
      {onFullscreen !== null && (
        <button type="button" className="fullscreen" onClick={onFullscreen}>
          <svg className="fullscreen-icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
            <path d="M4 9V4h5M15 4h5v5M20 15v5h-5M9 20H4v-5" />
          </svg>
          {t.fullscreen}
        </button>
      )}
      <ScreenView screen={screen} state={state} now={now} t={t} />
      {sessionLeft !== null && (
        <footer className="session">
          {t.sessionEndsIn} <time className="session-countdown">{formatCountdown(sessionLeft)}</time>
        </footer>
      )}
    </main>
  );
}

function ScreenView({ screen, state, now, t }: { screen: Screen; state: ViewState; now: number; t: Messages }) {
  switch (screen.kind) {
    case "payment":
      return <PaymentView payment={screen.payment} replaced={screen.replaced} state={state} now={now} t={t} />;
    case "connecting":
      return <Notice tone="busy" title={t.connecting} hint={t.connectingHint} />;
    case "reconnecting":
      return <Notice tone="busy" title={t.reconnecting(screen.attempt)} hint={t.reconnectingHint} />;
    case "waiting":
      return <Notice tone={screen.cleared === "paid" ? "done" : "busy"} title={t.waiting} hint={clearedHint(screen.cleared, t)} />;
    case "qrExpired":
      return <Notice tone="stopped" title={t.qrExpired} hint={t.qrExpiredHint} />;
    case "expired":
      return <Notice tone="stopped" title={t.expired} hint={t.expiredHint} />;
    case "invalid":
      return <Notice tone="error" title={t.invalid} hint={t.invalidHint} />;
    case "unknown":
      return <Notice tone="error" title={t.unknown} hint={t.unknownHint} />;
    case "noLink":
      return <Notice tone="info" title={t.noLink} hint={t.noLinkHint} />;
    case "full":
      return <Notice tone="stopped" title={t.full} hint={t.fullHint(screen.attempt)} />;
    case "rateLimited":
      return <Notice tone="stopped" title={t.rateLimited} hint={t.rateLimitedHint(screen.retryInSeconds)} />;
  }
}

function clearedHint(reason: ClearReason | null, t: Messages): string {
  switch (reason) {
    case "paid":
      return `${t.clearedPaid} ${t.waitingHint}`;
    case "cancelled":
      return `${t.clearedCancelled} ${t.waitingHint}`;
    case "replaced":
      return `${t.clearedReplaced} ${t.waitingHint}`;
    case null:
      return t.waitingHint;
  }
}

type Tone = "busy" | "done" | "stopped" | "error" | "info";

/** A glyph per tone (decoration only: the title says it in words). */
const GLYPHS: Record<Tone, string> = { busy: "", done: "✓", stopped: "!", error: "✕", info: "i" };

function Notice({ tone, title, hint }: { tone: Tone; title: string; hint: string }) {
  return (
    <section className={`notice notice--${tone}`} role="status">
      <span className="notice-icon" aria-hidden="true">
        {GLYPHS[tone]}
      </span>
      <h1 className="notice-title">{title}</h1>
      <p className="notice-hint">{hint}</p>
    </section>
  );
}

function PaymentView({
  payment,
  replaced,
  state,
  now,
  t,
}: {
  payment: Payment;
  replaced: boolean;
  state: ViewState;
  now: number;
  t: Messages;
}) {
  const amount = formatAmount(payment.amount, payment.currency);
  const left = payment.expiresAt === null ? null : payment.expiresAt - serverNow(state, now);
  // SPEC §11.3: who the QR pays. When its own name contradicts the merchant, that name is
  // the payee on screen, and the page says so.
  const to = paidTo(payment);
  const account = payment.payee === null ? null : payeeLine(payment.payee);
  return (
    <section className="payment">
      {/* A new key per seq remounts the frame, which restarts the flash animation. */}
      <div key={payment.seq} className={replaced ? "qr-frame qr-frame--flash" : "qr-frame"} data-seq={payment.seq}>
        <QrImage code={payment.qrCode} alt={t.qrAlt(amount, to.name)} />
        {replaced && <span className="qr-badge">{t.newCode}</span>}
      </div>
      <div className="details">
        <p className="scan">{t.scan}</p>
        <dl className="fields">
          <dt>{t.merchant}</dt>
          {to.contradicted ? <dd className="payee-name">{to.name}</dd> : <dd className="merchant">{to.name}</dd>}
          <dt>{t.amount}</dt>
          <dd className="amount">{amount}</dd>
          {account !== null && (
            <>
              <dt>{t.payeeAccount}</dt>
              <dd className="payee">{account}</dd>
            </>
          )}
          {payment.orderId !== null && (
            <>
              <dt>{t.orderId}</dt>
              <dd className="order-id">{payment.orderId}</dd>
            </>
          )}
        </dl>
        {to.contradicted && (
          <p className="payee-mismatch" role="alert">
            {t.payeeDiffers(payment.merchant)}
          </p>
        )}
        {payment.description !== null && <p className="description">{payment.description}</p>}
        {left !== null && (
          <p className="qr-expiry">
            {t.qrExpiresIn} <time className="qr-countdown">{formatCountdown(left)}</time>
          </p>
        )}
        {payment.deeplink !== null && (
          <a className="deeplink" href={payment.deeplink} rel="noreferrer noopener">
            {t.openMomo}
          </a>
        )}
      </div>
    </section>
  );
}

function QrImage({ code, alt }: { code: string; alt: string }) {
  if (code.startsWith(PNG_DATA_URI)) {
    return <img className="qr qr--png" src={code} alt={alt} draggable={false} />;
  }
  return <EmvQr payload={code} alt={alt} />;
}

function EmvQr({ payload, alt }: { payload: string; alt: string }) {
  const path = useMemo(() => {
    try {
      return qrPath(payload);
    } catch {
      return null; // more than a QR holds: the gateway's 512-char limit makes this moot
    }
  }, [payload]);
  if (path === null) return null;
  return (
    <svg
      className="qr qr--svg"
      viewBox={`0 0 ${path.size} ${path.size}`}
      role="img"
      aria-label={alt}
      shapeRendering="crispEdges"
      xmlns="http://www.w3.org/2000/svg"
    >
      <rect width={path.size} height={path.size} fill="#fff" />
      <path d={path.d} fill="#000" />
    </svg>
  );
}
