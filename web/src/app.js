/*! pixelgate browser viewer. Bundles noVNC 1.6.0 (MPL-2.0; source: the npm package
 * @novnc/novnc 1.6.0 or https://github.com/novnc/noVNC tag v1.6.0) and pako (MIT and
 * Zlib licences). Licence texts: THIRD-PARTY-NOTICES.txt and LICENSES/ beside this file. */

// The page served by the relay over HTTPS: a login form, then the remote screen
// (noVNC) with a small bar for the user, the clipboard panel and the status. No
// inline script or style: the relay's CSP forbids both. Visibility is switched
// with the hidden attribute and classes, never with element.style.

import RFB from "@novnc/novnc/lib/rfb.js";
import { pickLang, translate, LANGS } from "./i18n.js";
import { endOutcome, normalizeCode } from "./outcome.js";

const LANG_KEY = "pixelgate.lang";
// The relay waits up to 20 s for the browser host after the login; give the
// whole handshake a little more before telling the user it did not work.
const CONNECT_TIMEOUT_MS = 45000;

const $ = (id) => document.getElementById(id);

const el = {
  loginView: $("login-view"),
  sessionView: $("session-view"),
  form: $("login-form"),
  user: $("user"),
  password: $("password"),
  code: $("code"),
  connect: $("connect"),
  formError: $("form-error"),
  loginError: $("login-error"),
  loginErrorText: $("login-error-text"),
  loginErrorDetail: $("login-error-detail"),
  loginStatus: $("login-status"),
  barUser: $("bar-user"),
  status: $("status"),
  disconnect: $("disconnect"),
  clipToggle: $("clip-toggle"),
  clipBadge: $("clip-badge"),
  clipPanel: $("clip-panel"),
  clipClose: $("clip-close"),
  clipOut: $("clip-out"),
  clipSend: $("clip-send"),
  clipIn: $("clip-in"),
  clipCopy: $("clip-copy"),
  clipSendStatus: $("clip-send-status"),
  clipRecvStatus: $("clip-recv-status"),
  screen: $("screen"),
  langButtons: [$("lang-login"), $("lang-bar")],
};

let lang = "ja";
let rfb = null;
let attempt = null; // what the current connection attempt has seen
// What is on screen, kept as keys so a language switch can redraw it.
const shown = {
  formError: null,
  loginError: null,
  loginStatus: null,
  status: null,
  clipSend: null,
  clipRecv: null,
  user: "",
};

function t(key, params) {
  return translate(lang, key, params);
}

function storedLang() {
  try {
    return window.localStorage.getItem(LANG_KEY);
  } catch (e) {
    return null;
  }
}

function storeLang(value) {
  try {
    window.localStorage.setItem(LANG_KEY, value);
  } catch (e) {
    // Storage may be off by policy: the choice then lasts for this page only.
  }
}

// ---- drawing text ----------------------------------------------------------

// An outcome ({key, wait?, reason?, hint?}) as a main line and an optional detail line.
function outcomeText(o) {
  if (!o) return { text: "", detail: "" };
  let text;
  if (o.key === "err.locked") {
    text = t("err.locked", {
      wait: o.wait !== undefined ? t("err.locked.wait", { s: o.wait }) : t("err.locked.nowait"),
    });
  } else if (o.key === "err.generic") {
    text = o.reason ? t("err.generic", { reason: o.reason }) : t("err.genericNoReason");
  } else {
    text = t(o.key, o.params);
  }
  const details = [];
  if (o.hint) details.push(t(o.hint));
  if (o.reason && o.key !== "err.generic") details.push(t("err.reasonFromRelay", { reason: o.reason }));
  return { text, detail: details.join(" ") };
}

function setText(node, msg) {
  node.textContent = msg ? t(msg.key, msg.params) : "";
}

function render() {
  document.documentElement.lang = lang;
  document.title = t("page.title");
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll("[data-i18n-aria-label]"))
    node.setAttribute("aria-label", t(node.dataset.i18nAriaLabel));
  for (const node of document.querySelectorAll("[data-i18n-placeholder]"))
    node.setAttribute("placeholder", t(node.dataset.i18nPlaceholder));
  const other = LANGS.find((l) => l !== lang) || "en";
  for (const b of el.langButtons) b.setAttribute("lang", other);

  setText(el.formError, shown.formError);
  el.formError.hidden = !shown.formError;

  const err = outcomeText(shown.loginError);
  el.loginErrorText.textContent = err.text;
  el.loginErrorDetail.textContent = err.detail;
  el.loginErrorDetail.hidden = !err.detail;
  el.loginError.hidden = !shown.loginError;

  setText(el.loginStatus, shown.loginStatus);
  setText(el.status, shown.status);
  setText(el.clipSendStatus, shown.clipSend);
  setText(el.clipRecvStatus, shown.clipRecv);
  el.barUser.textContent = shown.user ? t("bar.user", { user: shown.user }) : "";
}

function setLang(value) {
  lang = LANGS.includes(value) ? value : "ja";
  render();
}

function toggleLang() {
  setLang(lang === "ja" ? "en" : "ja");
  storeLang(lang);
  // A ?lang= in the address would win again on reload: follow the choice.
  try {
    const url = new URL(window.location.href);
    if (url.searchParams.has("lang")) {
      url.searchParams.set("lang", lang);
      window.history.replaceState(null, "", url.toString());
    }
  } catch (e) {
    // Not worth failing over.
  }
}

// ---- the login form --------------------------------------------------------

function setBusy(busy) {
  for (const input of [el.user, el.password, el.code, el.connect]) input.disabled = busy;
  el.form.setAttribute("aria-busy", busy ? "true" : "false");
  el.connect.textContent = t(busy ? "login.connecting" : "login.submit");
  el.connect.dataset.i18n = busy ? "login.connecting" : "login.submit";
}

function formFail(key, field) {
  shown.formError = { key };
  for (const f of [el.user, el.password, el.code]) f.removeAttribute("aria-invalid");
  field.setAttribute("aria-invalid", "true");
  render();
  field.focus();
}

function onSubmit(ev) {
  ev.preventDefault();
  if (attempt) return;
  const user = el.user.value.trim();
  const password = el.password.value;
  const code = normalizeCode(el.code.value);
  if (!user) return formFail("form.needUser", el.user);
  if (!password) return formFail("form.needPassword", el.password);
  if (code === null) return formFail("form.badCode", el.code);
  for (const f of [el.user, el.password, el.code]) f.removeAttribute("aria-invalid");
  // Out of the page as soon as it is read. The relay takes a TOTP code typed
  // right after the password, so the two travel as one string.
  el.password.value = "";
  el.code.value = "";
  shown.formError = null;
  shown.loginError = null;
  connect(user, password + code);
}

// ---- the connection --------------------------------------------------------

function forgetPassword(a) {
  // noVNC holds this same object; dropping the field drops its reference too.
  // (JavaScript strings cannot be overwritten; unreferenced ones are collected.)
  if (a && a.creds) delete a.creds.password;
}

function connect(user, password) {
  shown.loginStatus = { key: "status.connecting" };
  setBusy(true);
  render();

  const a = {
    user,
    creds: { username: user, password },
    userRequested: false,
    securityReason: undefined,
    credentialsAgain: false,
    credentialsSent: false,
    connected: false,
    wsOpened: false,
    closeReason: "",
    timer: 0,
  };
  attempt = a;

  if (typeof window.WebSocket !== "function") {
    finish(a, { key: "err.noWebSocket", level: "error" });
    return;
  }

  // The WebSocket is made here rather than by noVNC so the page can read the
  // close frame's reason, which noVNC does not pass on.
  let ws;
  try {
    ws = new WebSocket("wss://" + window.location.host + "/websockify", ["binary"]);
  } catch (e) {
    finish(a, { key: "err.unreachable", level: "error" });
    return;
  }
  ws.addEventListener("open", () => {
    a.wsOpened = true;
  });
  ws.addEventListener("close", (e) => {
    a.closeReason = e.reason || "";
  });

  try {
    rfb = new RFB(el.screen, ws, { credentials: a.creds });
  } catch (e) {
    try {
      ws.close();
    } catch (e2) {
      // already closed
    }
    finish(a, { key: "err.unreachable", level: "error" });
    return;
  }
  rfb.scaleViewport = true;
  rfb.resizeSession = false;
  rfb.clipViewport = false;
  rfb.focusOnClick = true;

  // noVNC negotiates VeNCrypt Plain itself; it asks here only for what it was
  // not given. Answer once with what the user typed, never in a loop.
  rfb.addEventListener("credentialsrequired", () => {
    if (attempt !== a) return;
    if (!a.credentialsSent && a.creds.password !== undefined) {
      a.credentialsSent = true;
      rfb.sendCredentials(a.creds);
    } else {
      a.credentialsAgain = true;
      forgetPassword(a);
      rfb.disconnect();
    }
  });
  rfb.addEventListener("securityfailure", (e) => {
    if (attempt !== a) return;
    const reason = e.detail && typeof e.detail.reason === "string" ? e.detail.reason : "";
    a.securityReason = reason;
    forgetPassword(a);
  });
  rfb.addEventListener("connect", () => {
    if (attempt !== a) return;
    a.connected = true;
    forgetPassword(a);
    window.clearTimeout(a.timer);
    showSession(a.user);
  });
  rfb.addEventListener("disconnect", () => {
    if (attempt !== a) return;
    finish(a, endOutcome(a));
  });
  rfb.addEventListener("clipboard", (e) => {
    if (attempt !== a) return;
    const text = e.detail && typeof e.detail.text === "string" ? e.detail.text : "";
    received(text);
  });

  a.timer = window.setTimeout(() => {
    if (attempt === a && !a.connected && rfb) rfb.disconnect();
  }, CONNECT_TIMEOUT_MS);
}

function showSession(user) {
  shown.user = user;
  shown.status = { key: "status.connected" };
  shown.loginStatus = null;
  shown.clipSend = null;
  shown.clipRecv = null;
  el.loginView.hidden = true;
  el.sessionView.hidden = false;
  setBusy(false);
  render();
  if (rfb) rfb.focus();
}

// The attempt or session is over: back to the form, saying why.
function finish(a, outcome) {
  window.clearTimeout(a.timer);
  forgetPassword(a);
  attempt = null;
  rfb = null;
  closeClip(false);
  el.clipOut.value = "";
  el.clipIn.value = "";
  el.clipCopy.disabled = true;
  el.clipBadge.hidden = true;
  shown.user = "";
  shown.status = null;
  shown.clipSend = null;
  shown.clipRecv = null;
  if (outcome.level === "info") {
    shown.loginError = null;
    shown.loginStatus = { key: outcome.key };
  } else {
    shown.loginError = outcome;
    shown.loginStatus = null;
  }
  el.sessionView.hidden = true;
  el.loginView.hidden = false;
  setBusy(false);
  el.user.value = a.user;
  render();
  (a.user ? el.password : el.user).focus();
}

function onDisconnect() {
  if (!attempt || !rfb) return;
  attempt.userRequested = true;
  rfb.disconnect();
}

// ---- the clipboard panel ---------------------------------------------------

function openClip() {
  el.clipPanel.hidden = false;
  el.clipToggle.setAttribute("aria-expanded", "true");
  el.clipBadge.hidden = true;
  el.clipOut.focus();
}

function closeClip(refocus) {
  el.clipPanel.hidden = true;
  el.clipToggle.setAttribute("aria-expanded", "false");
  if (refocus && rfb) rfb.focus();
}

function sendClip() {
  if (!rfb || !attempt || !attempt.connected) return;
  const text = el.clipOut.value;
  if (text === "") {
    shown.clipSend = { key: "clip.send.empty" };
    render();
    el.clipOut.focus();
    return;
  }
  // The relay applies the policy; nothing comes back to say whether the text
  // reached the browser, so the panel says only that it went to the relay.
  rfb.clipboardPasteFrom(text);
  shown.clipSend = { key: "clip.sent" };
  render();
}

function received(text) {
  el.clipIn.value = text;
  el.clipCopy.disabled = text === "";
  const n = Array.from(text).length;
  shown.clipRecv = { key: "clip.recv.got", params: { n } };
  shown.status = { key: "clip.recv.got", params: { n } };
  if (el.clipPanel.hidden) el.clipBadge.hidden = false;
  render();
}

async function copyReceived() {
  const text = el.clipIn.value;
  if (!text) return;
  let ok = false;
  try {
    await navigator.clipboard.writeText(text);
    ok = true;
  } catch (e) {
    el.clipIn.focus();
    el.clipIn.select();
    try {
      ok = document.execCommand("copy");
    } catch (e2) {
      ok = false;
    }
  }
  shown.clipRecv = { key: ok ? "clip.copied" : "clip.copyManual" };
  render();
}

// ---- start -----------------------------------------------------------------

function start() {
  setLang(pickLang(window.location.search, storedLang()));
  el.form.addEventListener("submit", onSubmit);
  for (const b of el.langButtons) b.addEventListener("click", toggleLang);
  el.disconnect.addEventListener("click", onDisconnect);
  el.clipToggle.addEventListener("click", () => (el.clipPanel.hidden ? openClip() : closeClip(true)));
  el.clipClose.addEventListener("click", () => closeClip(true));
  el.clipSend.addEventListener("click", sendClip);
  el.clipCopy.addEventListener("click", () => {
    copyReceived();
  });
  // Escape closes the panel, except in the remote screen, where noVNC sends it
  // to the browser.
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Escape" || el.clipPanel.hidden || el.screen.contains(e.target)) return;
    e.preventDefault();
    closeClip(true);
  });
  for (const f of [el.user, el.password, el.code]) {
    f.addEventListener("input", () => {
      if (shown.formError) {
        shown.formError = null;
        f.removeAttribute("aria-invalid");
        render();
      }
    });
  }
  el.user.focus();
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
