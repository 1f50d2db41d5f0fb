// The fullscreen button's logic: offered only where the page can go fullscreen and is
// not already (by the Fullscreen API, or as an installed app with `display: fullscreen`).

/** The parts of `document` used here (tests pass a fake). */
export interface FullscreenDocument {
  readonly fullscreenEnabled?: boolean;
  readonly fullscreenElement?: unknown;
  readonly documentElement: { requestFullscreen?: (options?: FullscreenOptions) => Promise<void> };
  addEventListener(type: "fullscreenchange", listener: () => void): void;
  removeEventListener(type: "fullscreenchange", listener: () => void): void;
}

export type MatchMedia = (query: string) => { matches: boolean };

/** Whether to show the button: the API is there and the page is not fullscreen yet. */
export function canGoFullscreen(doc: FullscreenDocument, matchMedia?: MatchMedia): boolean {
  if (doc.fullscreenEnabled !== true || typeof doc.documentElement.requestFullscreen !== "function") return false;
  if (doc.fullscreenElement !== null && doc.fullscreenElement !== undefined) return false;
  // Launched as an installed app: already fullscreen, without the Fullscreen API.
  return matchMedia?.("(display-mode: fullscreen)").matches !== true;
}

/** Ask for fullscreen (from a click: browsers require a user gesture); a refusal is ignored. */
export function goFullscreen(doc: FullscreenDocument): void {
  const request = doc.documentElement.requestFullscreen;
  if (typeof request !== "function") return;
  try {
    request.call(doc.documentElement, { navigationUI: "hide" }).catch(() => {});
  } catch {
    // an old engine that throws instead of rejecting
  }
}
