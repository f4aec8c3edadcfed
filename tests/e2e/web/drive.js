// The browser side of tests/e2e/test_web_viewer.sh: Debian's Chromium, headless,
// driven by playwright-core, against the relay's viewer page, with a real browser
// host (Xtigervnc + Chromium) behind the relay. The shell script sets everything up
// and passes it in PG_* variables; this prints one "PASS: ..." or "FAIL: ..." line per
// check on stdout (the script counts them) and its progress on stderr.
//
// One function per step, in the order of the script's header: (1) the login page,
// (2) a wrong and a right password and the picture, (3) mouse and keyboard, (4) the
// clipboard under each policy, with the audit checked per case.
"use strict";

const { chromium } = require("playwright-core");
const childProcess = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

// ---- settings from the script ------------------------------------------------

function need(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`drive.js: ${name} is not set (run tests/e2e/test_web_viewer.sh)`);
    process.exit(2);
  }
  return v;
}

const cfg = {
  src: need("PG_SRC"),
  build: need("PG_BUILD"),
  work: need("PG_WORK"),
  art: need("PG_ART"),
  url: need("PG_URL"),
  conf: need("PG_CONF"),
  audit: need("PG_AUDIT"),
  user: need("PG_USER"),
  password: need("PG_PASSWORD"),
  hostDisplay: need("PG_HOST_DISPLAY"),
  hostXauth: need("PG_HOST_XAUTH"),
  hostWin: need("PG_HOST_WIN"),
  hostLog: need("PG_HOST_LOG"), // Xtigervnc's log
  width: Number(need("PG_WIDTH")),
  height: Number(need("PG_HEIGHT")),
  t0: Date.now() - Number(process.env.PG_T0_OFFSET || 0) * 1000,
};

// Where things are on the host pages (test_web_viewer.sh writes them; kiosk mode, so
// page pixels are screen pixels).
const HOST = {
  link: { x: 200, y: 180 }, // #next on page1.html
  input: { x: 290, y: 272 }, // #box on page1.html
  page2Block: { x: 400, y: 300, rgb: [0x2c, 0xa0, 0x2c] }, // #block on page2.html
};

// The texts. UTF-8 in this file; the relay and both clipboards carry them as such.
const TEXT = {
  ascii: "hello pixelgate",
  japanese: "日本語テスト",
  hostToPanel: "住民票の写し\n2行目 web",
  panelToHost: "転送テスト web 印鑑証明",
  myNumber: "123456789018", // a valid My Number (check digit 8)
  hostDenied: "転送禁止 host",
  panelDenied: "送信禁止 panel",
};

// PSNR (dB) the canvas must reach against the host's screen: Tight JPEG at noVNC's
// default quality is well above this, a wrong or stale picture far below.
const PSNR_MIN = 30;
const BANNER_WITHIN_MS = 4000;

// ---- results and progress ----------------------------------------------------

let passed = 0;
let failed = 0;

function pass(msg) {
  passed++;
  console.log(`PASS: ${msg}`);
}

function fail(msg) {
  failed++;
  console.log(`FAIL: ${msg}`);
}

function check(ok, good, bad) {
  if (ok) pass(good);
  else fail(bad);
  return ok;
}

function log(msg) {
  const s = Math.round((Date.now() - cfg.t0) / 1000);
  console.error(`drive.js: [${s}s] ${msg}`);
}

// A failure that leaves nothing more to test in this run.
class Abort extends Error {}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Calls fn until it returns something truthy or timeoutMs pass; returns the last value.
async function waitFor(fn, timeoutMs, intervalMs = 200) {
  const end = Date.now() + timeoutMs;
  let v;
  for (;;) {
    v = await fn();
    if (v || Date.now() >= end) return v;
    await sleep(intervalMs);
  }
}

function art(name) {
  return path.join(cfg.art, `web-${name}`);
}

// ---- programs on this machine and on the host display ----------------------

// Runs a program to its end (at most timeoutMs); never throws.
function run(cmd, args, { timeoutMs = 10000, env = process.env } = {}) {
  return new Promise((resolve) => {
    const opts = { timeout: timeoutMs, env, encoding: "buffer", maxBuffer: 16 << 20, killSignal: "SIGKILL" };
    childProcess.execFile(cmd, args, opts, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
      resolve({ code, stdout, stderr: stderr.toString("utf8") });
    });
  });
}

const hostEnv = { ...process.env, DISPLAY: cfg.hostDisplay, XAUTHORITY: cfg.hostXauth };

function onHost(cmd, args, opts = {}) {
  return run(cmd, args, { ...opts, env: hostEnv });
}

// The host page's title is the Chromium window's name ("TITLE" or "TITLE - Chromium").
async function hostTitle() {
  const r = await onHost("xdotool", ["getwindowname", cfg.hostWin], { timeoutMs: 3000 });
  return r.code === 0 ? r.stdout.toString("utf8").replace(/\n$/, "") : "";
}

function titleIs(name, want) {
  return name === want || name.startsWith(`${want} - `);
}

async function waitHostTitle(want, timeoutMs) {
  let last = "";
  const ok = await waitFor(async () => titleIs((last = await hostTitle()), want), timeoutMs, 250);
  return { ok, last };
}

async function hostScreenshot(file) {
  const r = await onHost("import", ["-window", "root", file], { timeoutMs: 10000 });
  if (r.code !== 0) throw new Abort(`import on the host display failed: ${r.stderr.trim()}`);
}

// xclip owns the host's CLIPBOARD (-quiet: in the foreground, until another owner
// takes it or it is stopped). It stays in this process's group, which the script
// stops on any exit.
let hostClip = null;

function stopHostClip() {
  if (hostClip && hostClip.exitCode === null && hostClip.signalCode === null) hostClip.kill("SIGTERM");
  hostClip = null;
}

function setHostClipboard(text) {
  stopHostClip();
  const file = path.join(cfg.work, "host-clip-in");
  fs.writeFileSync(file, text);
  const err = fs.openSync(path.join(cfg.work, "xclip.log"), "a");
  hostClip = childProcess.spawn("xclip", ["-selection", "clipboard", "-i", "-quiet", file], {
    env: hostEnv,
    stdio: ["ignore", "ignore", err],
  });
  fs.closeSync(err);
}

async function readHostClipboard() {
  const r = await onHost("xclip", ["-selection", "clipboard", "-o"], { timeoutMs: 3000 });
  return r.code === 0 ? r.stdout.toString("utf8") : null;
}

// PSNR in dB of two images of one size (Infinity when identical, 0 when they cannot
// be compared), and the count of pixels that differ by more than 10 %.
async function comparePictures(a, b, diff) {
  const p = await run("compare", ["-metric", "PSNR", a, b, diff], { timeoutMs: 20000 });
  const out = p.stderr.trim();
  let psnr = 0;
  if (/^(inf|1\.#INF)/i.test(out)) psnr = Infinity;
  else if (/^[0-9.]+/.test(out)) psnr = parseFloat(out);
  const ae = await run("compare", ["-metric", "AE", "-fuzz", "10%", a, b, "null:"], { timeoutMs: 20000 });
  return { psnr, ae: ae.stderr.trim().split(/\s/)[0] };
}

// ---- the audit and the relay's configuration ---------------------------------

function auditRecords() {
  let text = "";
  try {
    text = fs.readFileSync(cfg.audit, "utf8");
  } catch (e) {
    return [];
  }
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => {
      try {
        return JSON.parse(l);
      } catch (e) {
        return { unparsed: l };
      }
    });
}

const auditMark = () => auditRecords().length;

function auditFind(mark, pred) {
  return auditRecords().slice(mark).filter(pred);
}

async function waitAudit(mark, pred, timeoutMs) {
  const got = await waitFor(() => auditFind(mark, pred).length > 0, timeoutMs, 200);
  return got ? auditFind(mark, pred)[0] : null;
}

const clipRecord = (direction, verdict) => (r) =>
  r.event === "clipboard" && r.direction === direction && r.verdict === verdict;

// checkClipAudit NAME MARK DIRECTION VERDICT RULE: one record for the case, with the
// logged-in user and the rule that decided.
async function checkClipAudit(name, mark, direction, verdict, rule) {
  const rec = await waitAudit(mark, clipRecord(direction, verdict), 5000);
  if (!rec) {
    const seen = auditFind(mark, (r) => r.event === "clipboard").map((r) => JSON.stringify(r));
    fail(
      `${name}: no audit record {event clipboard, direction ${direction}, verdict ${verdict}} within 5 s (clipboard records since: ${seen.join(" ") || "none"})`,
    );
    return;
  }
  check(
    rec.user === cfg.user && typeof rec.rule === "string" && rec.rule.startsWith(rule),
    `${name}: audit: clipboard ${direction} ${verdict}, user ${rec.user}, rule "${rec.rule}", ${rec.bytes} bytes`,
    `${name}: the audit record should name user ${cfg.user} and rule "${rule}": ${JSON.stringify(rec)}`,
  );
  if (verdict === "allowed") {
    const other = auditFind(mark, clipRecord(direction, "denied"));
    if (other.length) fail(`${name}: also a denied record: ${JSON.stringify(other[0])}`);
  }
}

// Rewrites the configuration from the script's template and has the running relay
// apply it through its control socket, as an administrator would.
async function reload(toViewer, toBrowser) {
  const mark = auditMark();
  const text = fs
    .readFileSync(`${cfg.conf}.in`, "utf8")
    .replace("@TO_VIEWER@", toViewer)
    .replace("@TO_BROWSER@", toBrowser);
  fs.writeFileSync(`${cfg.conf}.new`, text);
  fs.renameSync(`${cfg.conf}.new`, cfg.conf);
  const r = await run(path.join(cfg.build, "pixelgate"), ["-c", cfg.conf, "--reload"], { timeoutMs: 10000 });
  if (r.code !== 0) throw new Abort(`pixelgate --reload failed: ${r.stderr.trim()} ${r.stdout}`);
  const applied = await waitAudit(
    mark,
    (x) => x.event === "policy-applied" && x.reason === "reload" && x.user === cfg.user,
    5000,
  );
  if (!applied)
    throw new Abort("no policy-applied record (reason reload) for the web viewer within 5 s of --reload");
  check(
    applied.clipboard_to_viewer === toViewer && applied.clipboard_to_browser === toBrowser,
    `reload: the web viewer's policy is now clipboard_to_viewer = ${toViewer}, clipboard_to_browser = ${toBrowser}`,
    `reload: the policy-applied record does not show the new rules: ${JSON.stringify(applied)}`,
  );
}

// ---- the viewer page -----------------------------------------------------------

// Console errors and CSP violations, per phase. noVNC logs an error when the relay
// refuses a login; nothing else may.
const consoleErrors = [];
let phase = "load";
const REFUSAL_PHASES = new Set(["wrong-password"]);
const NOVNC_REFUSAL =
  /^(Failed when connecting|Failed while connected|RFB failure|Failed when disconnecting): /;
// noVNC 1.6.0's H.264 probe (lib/util/browser.js) never closes the frame it decodes;
// Chromium says so whenever the garbage collector finds it (noVNC issue 1949, fixed
// after 1.6.0). Tolerated, and listed in the log, until the page carries the fix.
const NOVNC_PROBE_FRAME = /^A VideoFrame was garbage collected without being closed/;

// Runs in the page before its own script: collects CSP violation events. (Playwright
// injects it through DevTools, which the page's CSP does not govern.)
function cspProbe() {
  window.__pgCsp = [];
  document.addEventListener("securitypolicyviolation", (e) => {
    window.__pgCsp.push(
      `${e.violatedDirective} blocked ${e.blockedURI || "inline"} (${e.sourceFile}:${e.lineNumber})`,
    );
  });
}

async function cspViolations(page) {
  try {
    return await page.evaluate(() => window.__pgCsp || []);
  } catch (e) {
    return [`(could not read: ${e.message})`];
  }
}

function watchPage(page) {
  page.on("console", (m) => {
    if (m.type() === "error") consoleErrors.push({ phase, text: m.text() });
  });
  page.on("pageerror", (e) => consoleErrors.push({ phase, text: `uncaught: ${e.message}` }));
  page.on("requestfailed", (r) =>
    consoleErrors.push({ phase, text: `request failed: ${r.url()} ${r.failure() && r.failure().errorText}` }),
  );
}

function unexpectedErrors() {
  return consoleErrors.filter(
    (e) => !(REFUSAL_PHASES.has(e.phase) && NOVNC_REFUSAL.test(e.text)) && !NOVNC_PROBE_FRAME.test(e.text),
  );
}

// noVNC's canvas: the remote screen as the user sees it.
const canvas = (page) => page.locator("#screen canvas").first();

// The canvas's box on the page, and a host screen point mapped into it.
async function canvasBox(page) {
  return canvas(page).boundingBox();
}

async function hostToPage(page, pt) {
  const b = await canvasBox(page);
  if (!b) throw new Abort("the noVNC canvas is not on the page");
  return { x: b.x + ((pt.x + 0.5) * b.width) / cfg.width, y: b.y + ((pt.y + 0.5) * b.height) / cfg.height };
}

// The share (0..1) of neutral dark-grey pixels in a strip at the top centre of the
// canvas's framebuffer, where the relay draws its notice banner (0x303030 at alpha
// 230 over the white top of the host pages: about 0x444444).
async function bannerShare(page) {
  return page.evaluate(() => {
    const c = document.querySelector("#screen canvas");
    if (!c || !c.width) return -1;
    const ctx = c.getContext("2d");
    const x0 = Math.max(0, Math.floor(c.width / 2) - 100);
    let n = 0;
    let grey = 0;
    for (let y = 10; y <= 20; y += 2) {
      const d = ctx.getImageData(x0, y, 200, 1).data;
      for (let i = 0; i < d.length; i += 4) {
        const hi = Math.max(d[i], d[i + 1], d[i + 2]);
        const lo = Math.min(d[i], d[i + 1], d[i + 2]);
        n++;
        if (hi - lo <= 16 && lo >= 24 && hi <= 110) grey++;
      }
    }
    return grey / n;
  });
}

async function canvasPixel(page, pt) {
  return page.evaluate(({ x, y }) => {
    const c = document.querySelector("#screen canvas");
    return Array.from(c.getContext("2d").getImageData(x, y, 1, 1).data.slice(0, 3));
  }, pt);
}

// The grey banner within 4 s of since (ms), then gone again. slug names the screenshot.
async function checkBanner(name, slug, page, since) {
  const seen = await waitFor(
    async () => (await bannerShare(page)) >= 0.5,
    since + BANNER_WITHIN_MS - Date.now(),
    100,
  );
  const after = Date.now() - since;
  if (!seen) {
    await canvas(page).screenshot({ path: art(`${slug}-no-banner.png`) });
    fail(
      `${name}: no grey banner at the top of the canvas within ${BANNER_WITHIN_MS / 1000} s (share ${(await bannerShare(page)).toFixed(2)}); see ${art(`${slug}-no-banner.png`)}`,
    );
    return;
  }
  await canvas(page).screenshot({ path: art(`${slug}-banner.png`) });
  pass(
    `${name}: the grey denial banner is in the canvas after ${(after / 1000).toFixed(1)} s (${art(`${slug}-banner.png`)})`,
  );
  // Shown for 4 s: it must be gone well before the next case.
  const gone = await waitFor(async () => (await bannerShare(page)) < 0.1, 9000, 200);
  check(
    gone,
    `${name}: the banner went away ${((Date.now() - since) / 1000).toFixed(1)} s after the refusal`,
    `${name}: the banner was still there ${((Date.now() - since) / 1000).toFixed(1)} s after the refusal`,
  );
}

async function noBannerNow(name, page) {
  const clear = await waitFor(async () => (await bannerShare(page)) < 0.1, 6000, 200);
  if (!clear) throw new Abort(`${name}: a banner is already at the top of the canvas before the case`);
}

async function openClipPanel(page) {
  if (await page.locator("#clip-panel").isHidden()) await page.click("#clip-toggle");
  await page.locator("#clip-panel").waitFor({ state: "visible", timeout: 5000 });
}

async function sendFromPanel(page, text) {
  await openClipPanel(page);
  await page.fill("#clip-out", text);
  await page.click("#clip-send");
}

// ---- (1) the login page ----------------------------------------------------------

async function stepLoginPage(page, msg) {
  phase = "load";
  let resp;
  try {
    resp = await page.goto(cfg.url, { waitUntil: "load", timeout: 20000 });
  } catch (e) {
    throw new Abort(`(1) ${cfg.url} did not load with the test CA trusted: ${e.message.split("\n")[0]}`);
  }
  const sec = await resp.securityDetails();
  check(
    resp.status() === 200 && sec && sec.issuer === "pixelgate e2e test CA",
    `(1) ${cfg.url} loaded over ${sec && sec.protocol} with the leaf issued by "${sec && sec.issuer}", trusted through the NSS database (no certificate error ignored)`,
    `(1) ${cfg.url}: status ${resp.status()}, security details ${JSON.stringify(sec)}`,
  );
  const csp = (await resp.allHeaders())["content-security-policy"] || "";
  check(
    /default-src 'self'/.test(csp) && /script-src 'self'/.test(csp) && !/unsafe/.test(csp),
    `(1) the page is served with the CSP: ${csp}`,
    `(1) the page's Content-Security-Policy is missing or weak: "${csp}"`,
  );
  await page.locator("#login-form").waitFor({ state: "visible", timeout: 10000 });
  await page.screenshot({ path: art("login-ja.png") });
  const heading = await page.textContent("#login-heading");
  const htmlLang = await page.getAttribute("html", "lang");
  check(
    heading === msg.ja["login.heading"] && htmlLang === "ja" && (await page.title()) === msg.ja["page.title"],
    `(1) the login page renders in Japanese by default ("${heading}", title "${await page.title()}"); ${art("login-ja.png")}`,
    `(1) the login page is not in Japanese: heading "${heading}", lang ${htmlLang}`,
  );
  for (const id of ["#user", "#password", "#code", "#connect"])
    if (!(await page.locator(id).isVisible())) fail(`(1) ${id} is not visible on the login page`);

  await page.goto(`${cfg.url}?lang=en`, { waitUntil: "load", timeout: 20000 });
  await page.locator("#login-form").waitFor({ state: "visible", timeout: 10000 });
  await page.screenshot({ path: art("login-en.png") });
  const headingEn = await page.textContent("#login-heading");
  check(
    headingEn === msg.en["login.heading"] && (await page.getAttribute("html", "lang")) === "en",
    `(1) ?lang=en shows the English page ("${headingEn}"); ${art("login-en.png")}`,
    `(1) ?lang=en did not switch to English: heading "${headingEn}"`,
  );
  // Back to the default language for the rest (the choice is not remembered by ?lang).
  await page.goto(cfg.url, { waitUntil: "load", timeout: 20000 });
  await page.locator("#login-form").waitFor({ state: "visible", timeout: 10000 });
  const csp1 = await cspViolations(page);
  const errs = unexpectedErrors();
  check(
    csp1.length === 0 && errs.length === 0,
    "(1) no console error, failed request or CSP violation while loading",
    `(1) while loading: CSP violations ${JSON.stringify(csp1)}, errors ${JSON.stringify(errs)}`,
  );
}

// The certificate check is really on: the same relay under a name the leaf does not
// have is refused. (Chromium is not told to ignore anything.)
async function stepCertificateIsChecked(context) {
  const page = await context.newPage();
  const url = cfg.url.replace("127.0.0.1", "localhost");
  try {
    await page.goto(url, { timeout: 15000 });
    fail(`(1) ${url} loaded although the leaf is only for IP:127.0.0.1: certificate errors are not checked`);
  } catch (e) {
    const m = /net::ERR_CERT_[A-Z_]+/.exec(e.message);
    check(
      !!m,
      `(1) certificate checking is on: ${url} (a name the leaf lacks) is refused with ${m && m[0]}`,
      `(1) ${url} failed, but not with a certificate error: ${e.message.split("\n")[0]}`,
    );
  } finally {
    await page.close();
  }
}

// ---- (2) logging in ------------------------------------------------------------------

async function login(page, password) {
  await page.fill("#user", cfg.user);
  await page.fill("#password", password);
  await page.press("#password", "Enter");
}

async function stepWrongPassword(page, msg) {
  phase = "wrong-password";
  const mark = auditMark();
  await login(page, `${cfg.password}-wrong`);
  try {
    await page.locator("#login-error").waitFor({ state: "visible", timeout: 20000 });
  } catch (e) {
    await page.screenshot({ path: art("auth-failed.png") });
    fail(`(2) a wrong password showed no error within 20 s; see ${art("auth-failed.png")}`);
    return;
  }
  await page.screenshot({ path: art("auth-failed.png") });
  const text = await page.textContent("#login-error-text");
  check(
    text === msg.ja["err.auth"],
    `(2) a wrong password shows the authentication-failed message: "${text}"`,
    `(2) a wrong password shows "${text}", not the err.auth message "${msg.ja["err.auth"]}"`,
  );
  check(
    (await page.inputValue("#password")) === "" && (await page.inputValue("#user")) === cfg.user,
    "(2) after the refusal the password field is empty and the user name kept",
    "(2) after the refusal the password field is not empty or the user name was lost",
  );
  const rec = await waitAudit(mark, (r) => r.event === "auth-failure" && r.user === cfg.user, 3000);
  check(
    rec && rec.reason === "wrong password" && !auditFind(mark, (r) => r.event === "auth-success").length,
    `(2) audit: auth-failure for ${cfg.user}, reason "${rec && rec.reason}"`,
    `(2) no auth-failure record (reason wrong password) for ${cfg.user}: ${JSON.stringify(rec)}`,
  );
}

async function stepLogin(page, msg) {
  phase = "login";
  const mark = auditMark();
  await login(page, cfg.password);
  try {
    await page.locator("#session-view").waitFor({ state: "visible", timeout: 30000 });
    await canvas(page).waitFor({ state: "visible", timeout: 10000 });
  } catch (e) {
    await page.screenshot({ path: art("login-failed.png") });
    throw new Abort(
      `(2) the right password did not connect within 30 s: login error "${await page.textContent("#login-error-text")}"; see ${art("login-failed.png")}`,
    );
  }
  check(
    (await page.textContent("#status")) === msg.ja["status.connected"] &&
      (await page.textContent("#bar-user")).includes(cfg.user),
    `(2) the right password connects: the bar says "${await page.textContent("#bar-user")}" / "${await page.textContent("#status")}"`,
    `(2) connected, but the bar says "${await page.textContent("#bar-user")}" / "${await page.textContent("#status")}"`,
  );
  // Make room for the picture at 1:1, so the comparison needs no scaling: the bar
  // above, the host's size below.
  const top = await page.evaluate(() => document.getElementById("screen").getBoundingClientRect().top);
  await page.setViewportSize({ width: cfg.width, height: cfg.height + Math.ceil(top) });
  const box = await waitFor(async () => {
    const b = await canvasBox(page);
    return b && Math.round(b.width) === cfg.width && Math.round(b.height) === cfg.height ? b : null;
  }, 5000);
  log(`canvas box: ${JSON.stringify(box || (await canvasBox(page)))}`);
  await page.screenshot({ path: art("session.png") });
  const joined = await waitAudit(mark, (r) => r.event === "viewer-join" && r.user === cfg.user, 3000);
  check(
    auditFind(mark, (r) => r.event === "auth-success" && r.user === cfg.user).length === 1 && joined,
    `(2) audit: auth-success and viewer-join for ${cfg.user} (browser host ${joined && joined.browser_host})`,
    `(2) no auth-success and viewer-join records for ${cfg.user}`,
  );
}

// The canvas (what the user sees) against the host's own screen. The first frames may
// still be arriving: retry for up to 20 s and keep the best.
async function stepPictureMatchesHost(page) {
  phase = "session";
  const host = path.join(cfg.work, "host.png");
  const shot = path.join(cfg.work, "canvas.png");
  const diff = path.join(cfg.work, "diff.png");
  let best = { psnr: -1 };
  const end = Date.now() + 20000;
  let tries = 0;
  while (Date.now() < end) {
    tries++;
    await hostScreenshot(host);
    await canvas(page).screenshot({ path: shot });
    const size = await run("identify", ["-format", "%wx%h", shot]);
    if (size.stdout.toString() !== `${cfg.width}x${cfg.height}`) {
      // Letterboxed or scaled: bring it to the host's size first.
      await run("convert", [shot, "-resize", `${cfg.width}x${cfg.height}!`, shot]);
    }
    const r = await comparePictures(host, shot, diff);
    if (r.psnr > best.psnr) {
      best = r;
      fs.copyFileSync(host, art("host.png"));
      fs.copyFileSync(shot, art("canvas.png"));
      if (fs.existsSync(diff)) fs.copyFileSync(diff, art("diff.png"));
    }
    if (best.psnr >= 45 || (best.psnr >= PSNR_MIN && tries >= 3)) break;
    await sleep(700);
  }
  const sd = await run("convert", [
    art("host.png"),
    "-colorspace",
    "Gray",
    "-format",
    "%[fx:standard_deviation]",
    "info:",
  ]);
  if (!(parseFloat(sd.stdout.toString()) > 0.05)) {
    fail(`(2) the host's screen looks blank (stddev ${sd.stdout}); see ${art("host.png")}`);
    return;
  }
  check(
    best.psnr >= PSNR_MIN,
    `(2) the noVNC canvas matches the browser host's screen: PSNR ${best.psnr === Infinity ? "inf" : best.psnr.toFixed(1)} dB (>= ${PSNR_MIN}), ${best.ae} pixels differ by more than 10 % (${art("canvas.png")}, ${art("host.png")})`,
    `(2) the noVNC canvas differs from the host's screen: PSNR ${best.psnr} dB (< ${PSNR_MIN}); see ${art("canvas.png")}, ${art("host.png")}, ${art("diff.png")}`,
  );
}

// ---- (3) mouse and keyboard ------------------------------------------------------------

async function stepTypeAscii(page) {
  const at = await hostToPage(page, HOST.input);
  await page.mouse.click(at.x, at.y);
  await sleep(300);
  await page.keyboard.type(TEXT.ascii, { delay: 40 });
  const want = `typed:${TEXT.ascii}`;
  const r = await waitHostTitle(want, 10000);
  check(
    r.ok,
    `(3) clicked the host's input through noVNC and typed "${TEXT.ascii}" (keyboard.type): the host page got it`,
    `(3) the host page did not get "${TEXT.ascii}" within 10 s (title "${r.last}")`,
  );
}

// Characters with no key on the viewer's keyboard: keydowns whose key is the character
// and whose code is empty, as a keyboard layout that produces them directly gives.
// (Playwright's keyboard.type would insert such text without a keydown, which noVNC
// never sees.) noVNC sends their keysyms (Unicode, or the legacy kana ones);
// Xtigervnc binds each one it lacks to a spare keycode, and logs that.
async function typeWithoutKeys(page, text) {
  const cdp = await page.context().newCDPSession(page);
  for (const ch of text) {
    await cdp.send("Input.dispatchKeyEvent", { type: "keyDown", key: ch, text: ch, unmodifiedText: ch });
    await cdp.send("Input.dispatchKeyEvent", { type: "keyUp", key: ch });
    await sleep(60);
  }
  await cdp.detach();
}

function keysymsAdded() {
  let text = "";
  try {
    text = fs.readFileSync(cfg.hostLog, "utf8");
  } catch (e) {
    return [];
  }
  return [...text.matchAll(/Added unknown keysym (0x[0-9a-f]+)/g)].map((m) => m[1]);
}

async function stepTypeJapanese(page) {
  const before = keysymsAdded().length;
  await typeWithoutKeys(page, TEXT.japanese);
  const want = `typed:${TEXT.ascii}${TEXT.japanese}`;
  let r = await waitHostTitle(want, 5000);
  const added = keysymsAdded().slice(before);
  const n = [...TEXT.japanese].length;
  check(
    added.length === n,
    `(3) the ${n} keysyms of "${TEXT.japanese}" reached the browser host's VNC server, which bound them to spare keycodes (${added.join(" ")})`,
    `(3) Xtigervnc added ${added.length} keysyms for the ${n} characters of "${TEXT.japanese}" (${added.join(" ")})`,
  );
  if (!r.ok) {
    // Known on the host: Chromium may read the press of a keycode Xtigervnc has just
    // rebound with the old keymap, and drop it. Bound now, the keys work: clear the
    // input through noVNC and type everything once more.
    log(
      `NOTE: first try of "${TEXT.japanese}" left the host's input at "${r.last}": Chromium on the host dropped keys whose keysym Xtigervnc had just bound; typing again`,
    );
    await page.keyboard.press("Control+a");
    await page.keyboard.press("Backspace");
    const cleared = await waitHostTitle("typed:", 5000);
    if (!cleared.ok) log(`clearing the input left the title "${cleared.last}"`);
    await page.keyboard.type(TEXT.ascii, { delay: 40 });
    await typeWithoutKeys(page, TEXT.japanese);
    r = await waitHostTitle(want, 10000);
  }
  check(
    r.ok,
    `(3) "${TEXT.japanese}" typed as keysyms reached the host's input: title "${r.last}"`,
    `(3) the host's input did not get "${TEXT.japanese}" within 10 s: title "${r.last}" (want "${want}")`,
  );
  await canvas(page).screenshot({ path: art("typed.png") });
}

async function stepClickLink(page) {
  const at = await hostToPage(page, HOST.link);
  await page.mouse.click(at.x, at.y);
  const r = await waitHostTitle("pg-web-page2", 10000);
  check(
    r.ok,
    "(3) a click through noVNC on the host page's link navigated the host to page 2",
    `(3) the host did not navigate within 10 s of the click on the link (title "${r.last}")`,
  );
  if (!r.ok) return;
  // The viewer's picture follows: page 2's green block where page 1 had none.
  const want = HOST.page2Block.rgb;
  let px = [];
  const ok = await waitFor(async () => {
    px = await canvasPixel(page, HOST.page2Block);
    return px.every((v, i) => Math.abs(v - want[i]) <= 24);
  }, 5000);
  await canvas(page).screenshot({ path: art("page2.png") });
  check(
    ok,
    `(3) the canvas shows page 2 (pixel ${px} at ${HOST.page2Block.x},${HOST.page2Block.y}); ${art("page2.png")}`,
    `(3) the canvas does not show page 2: pixel ${px} at ${HOST.page2Block.x},${HOST.page2Block.y}, want about ${want}`,
  );
}

// ---- (4) the clipboard -----------------------------------------------------------------------

// clipboard_to_viewer = text: host text appears in the panel's lower box.
async function stepHostToPanelAllowed(page) {
  const name = "(4a) host -> panel, clipboard_to_viewer = text";
  const mark = auditMark();
  const start = Date.now();
  setHostClipboard(TEXT.hostToPanel);
  let got = "";
  const ok = await waitFor(async () => (got = await page.inputValue("#clip-in")) === TEXT.hostToPanel, 15000);
  await openClipPanel(page);
  await page.screenshot({ path: art("clipboard-received.png") });
  check(
    ok,
    `${name}: the host's text is in the panel (#clip-in), LF intact, after ${((Date.now() - start) / 1000).toFixed(1)} s`,
    `${name}: the panel did not get the host's text within 15 s (it holds ${JSON.stringify(got)})`,
  );
  await checkClipAudit(name, mark, "to-viewer", "allowed", "clipboard_to_viewer = text");
}

// clipboard_to_browser = text: text sent from the panel lands on the host's clipboard.
async function stepPanelToHostAllowed(page, msg) {
  const name = "(4b) panel -> host, clipboard_to_browser = text";
  const mark = auditMark();
  const start = Date.now();
  await sendFromPanel(page, TEXT.panelToHost);
  const status = await page.textContent("#clip-send-status");
  if (status !== msg.ja["clip.sent"])
    fail(`${name}: the panel says "${status}" after sending, not clip.sent`);
  let got = null;
  const ok = await waitFor(async () => (got = await readHostClipboard()) === TEXT.panelToHost, 15000, 300);
  check(
    ok,
    `${name}: the text reached the host's clipboard (xclip -o) after ${((Date.now() - start) / 1000).toFixed(1)} s`,
    `${name}: the host's clipboard did not get the text within 15 s (it holds ${JSON.stringify(got)})`,
  );
  await checkClipAudit(name, mark, "to-browser", "allowed", "clipboard_to_browser = text");
}

// neverOnHost NAME TEXT MS: the host's clipboard never holds TEXT for MS.
async function neverOnHost(name, text, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if ((await readHostClipboard()) === text) {
      fail(`${name}: the refused text reached the host's clipboard`);
      return;
    }
    await sleep(250);
  }
  pass(`${name}: the host's clipboard did not get it within ${ms / 1000} s`);
}

async function neverInPanel(name, page, text, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if ((await page.inputValue("#clip-in")) === text) {
      fail(`${name}: the refused text reached the panel`);
      return;
    }
    await sleep(200);
  }
  pass(`${name}: the panel did not get it within ${ms / 1000} s (it still holds the earlier text)`);
}

// A valid My Number from the panel is refused whole (detector mynumber).
async function stepPanelMyNumber(page) {
  const name = "(4c) My Number from the panel";
  await noBannerNow(name, page);
  const mark = auditMark();
  const start = Date.now();
  await sendFromPanel(page, TEXT.myNumber);
  await checkBanner(name, "mynumber", page, start);
  await neverOnHost(name, TEXT.myNumber, 2000);
  await checkClipAudit(name, mark, "to-browser", "denied", "detector mynumber");
}

async function stepHostToPanelDenied(page) {
  const name = "(4d) host -> panel, clipboard_to_viewer = deny";
  await noBannerNow(name, page);
  const mark = auditMark();
  const start = Date.now();
  setHostClipboard(TEXT.hostDenied);
  await checkBanner(name, "deny-to-viewer", page, start);
  await neverInPanel(name, page, TEXT.hostDenied, 2000);
  await checkClipAudit(name, mark, "to-viewer", "denied", "clipboard_to_viewer = deny");
}

async function stepPanelToHostDenied(page) {
  const name = "(4e) panel -> host, clipboard_to_browser = deny";
  await noBannerNow(name, page);
  const mark = auditMark();
  const start = Date.now();
  await sendFromPanel(page, TEXT.panelDenied);
  await checkBanner(name, "deny-to-browser", page, start);
  await neverOnHost(name, TEXT.panelDenied, 2000);
  await checkClipAudit(name, mark, "to-browser", "denied", "clipboard_to_browser = deny");
}

// ---- (5) the audit's content --------------------------------------------------------

function stepAuditHasNoText() {
  const raw = fs.readFileSync(cfg.audit, "utf8");
  const escaped = (s) => JSON.stringify(s).slice(1, -1);
  const asciiEscaped = (s) =>
    escaped(s).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  const found = [];
  for (const t of [TEXT.hostToPanel, TEXT.panelToHost, TEXT.myNumber, TEXT.hostDenied, TEXT.panelDenied]) {
    const word = t.split(/[\s]/)[0];
    for (const form of [word, asciiEscaped(word)])
      if (raw.toLowerCase().includes(form.toLowerCase())) found.push(form);
  }
  check(
    found.length === 0,
    "(5) with audit_clipboard_text = 0 none of the clipboard texts is in the audit file",
    `(5) clipboard text in the audit file: ${found.join(", ")}`,
  );
}

function stepConsole(page, csp) {
  const errs = unexpectedErrors();
  const known = consoleErrors.filter((e) => !errs.includes(e));
  for (const e of known) log(`console error from noVNC (${e.phase}): ${e.text}`);
  check(
    errs.length === 0 && csp.length === 0,
    `(1)-(4) no console error or failed request except noVNC's known ones (${known.length}, listed in the log), no CSP violation`,
    `(1)-(4) console errors ${JSON.stringify(errs)}, CSP violations ${JSON.stringify(csp)}`,
  );
}

// ---- main ---------------------------------------------------------------------------------

async function main() {
  // The page's own messages (an ES module without imports; loaded from its text so
  // node does not guess the module type of web/src/ from web/package.json).
  const i18n = fs.readFileSync(path.join(cfg.src, "web/src/i18n.js"), "utf8");
  const { MESSAGES } = await import(`data:text/javascript,${encodeURIComponent(i18n)}`);
  const home = path.join(cfg.work, "home");
  log("launching /usr/bin/chromium (headless)");
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    timeout: 30000,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    // The NSS database that trusts the test CA is in this HOME.
    env: {
      ...process.env,
      HOME: home,
      XDG_CONFIG_HOME: path.join(home, ".config"),
      XDG_CACHE_HOME: path.join(home, ".cache"),
    },
  });
  const proc = browser.process && browser.process();
  if (proc && proc.pid) fs.writeFileSync(path.join(cfg.work, "browser.pid"), String(proc.pid));
  let page;
  try {
    const context = await browser.newContext({ viewport: { width: 1024, height: 768 }, locale: "ja-JP" });
    await context.addInitScript(cspProbe);
    page = await context.newPage();
    watchPage(page);

    await stepLoginPage(page, MESSAGES);
    await stepCertificateIsChecked(context);
    await stepWrongPassword(page, MESSAGES);
    await stepLogin(page, MESSAGES);
    await stepPictureMatchesHost(page);

    await stepTypeAscii(page);
    await stepTypeJapanese(page);
    await stepClickLink(page);

    await stepHostToPanelAllowed(page);
    await stepPanelToHostAllowed(page, MESSAGES);
    await stepPanelMyNumber(page);
    await reload("deny", "deny");
    await stepHostToPanelDenied(page);
    await stepPanelToHostDenied(page);

    stepAuditHasNoText();
    stepConsole(page, await cspViolations(page));
  } catch (e) {
    if (e instanceof Abort) fail(e.message);
    else fail(`driver error: ${e.stack || e}`);
    if (page) await page.screenshot({ path: art("abort.png") }).catch(() => {});
  } finally {
    stopHostClip();
    await browser.close().catch(() => {});
  }
  log(`${passed} passed, ${failed} failed in the browser`);
  process.exitCode = failed ? 1 : 0;
}

main().catch((e) => {
  fail(`driver error: ${e.stack || e}`);
  stopHostClip();
  process.exit(1);
});
