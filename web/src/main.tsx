// Boot: the token from this page's own path (the gateway never writes it into the
// HTML), the socket URL and idle timeout from the gateway's <meta> tags, the language
// from the browser.

import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import { MESSAGES, pickLanguage } from "./i18n";
import { socketUrl, tokenFromPath } from "./protocol";
import "./styles.css";

function meta(name: string): string {
  return document.querySelector<HTMLMetaElement>(`meta[name="${name}"]`)?.content ?? "";
}

const DEFAULT_IDLE_TIMEOUT_SECONDS = 60;

const token = tokenFromPath(window.location.pathname);
const idle = Number(meta("gateway-idle-timeout"));
const idleTimeoutMs = (Number.isFinite(idle) && idle > 0 ? idle : DEFAULT_IDLE_TIMEOUT_SECONDS) * 1000;
const languages = navigator.languages.length > 0 ? navigator.languages : [navigator.language];
const lang = pickLanguage(languages);
document.documentElement.lang = lang;
document.title = MESSAGES[lang].title;

const root = document.getElementById("root");
if (root !== null) {
  createRoot(root).render(
    <StrictMode>
      <App
        url={token === "" ? null : socketUrl(token, meta("gateway-ws-url"), window.location)}
        idleTimeoutMs={idleTimeoutMs}
        lang={lang}
      />
    </StrictMode>,
  );
}
