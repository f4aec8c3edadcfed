// What to tell the user when a connection attempt or a session ends. Pure
// functions of what the page saw, so the wording rules live in one place.

// The relay's SecurityResult reason (English, fixed strings from relay/) to a
// message key. The relay says only "authentication failed" for a wrong user,
// password or code so as not to tell an attacker which part was wrong.
export function classifyReason(reason) {
  const r = typeof reason === "string" ? reason.trim() : "";
  if (r === "") return { key: "err.auth" };
  if (/too many failures/i.test(r)) {
    const m = /(\d+)\s*s\b/.exec(r);
    return m ? { key: "err.locked", wait: Number(m[1]) } : { key: "err.locked" };
  }
  if (/TOTP code missing|one-time code missing/i.test(r)) return { key: "err.totpMissing" };
  if (/not enrolled/i.test(r)) return { key: "err.totpNotEnrolled" };
  if (/wrong (or reused )?TOTP|reused TOTP/i.test(r)) return { key: "err.totpWrong" };
  if (/browser host is not available/i.test(r)) return { key: "err.hostUnavailable" };
  if (/no browser host is configured/i.test(r)) return { key: "err.noRoute" };
  if (/too many sessions/i.test(r)) return { key: "err.tooManySessions" };
  if (/may not use the relay/i.test(r)) return { key: "err.network" };
  if (/authentication failed/i.test(r)) return { key: "err.auth" };
  return { key: "err.generic", reason: r };
}

// The end of a connection attempt or session.
//   userRequested   the user pressed Disconnect (or left the page)
//   securityReason  undefined, or the reason of noVNC's "securityfailure" ("" if none)
//   credentialsAgain the relay asked for credentials a second time
//   connected       noVNC's "connect" event had fired
//   wsOpened        the WebSocket had opened
//   closeReason     the WebSocket close frame's reason, if the relay sent one
// Returns { key, reason?, wait?, hint?, level } with level "info" or "error".
export function endOutcome(s) {
  if (s.userRequested) return { key: "status.disconnected", level: "info" };
  if (s.securityReason !== undefined) return { ...classifyReason(s.securityReason), level: "error" };
  if (s.credentialsAgain) return { key: "err.credentialsAgain", level: "error" };
  const closeReason = typeof s.closeReason === "string" ? s.closeReason.trim() : "";
  if (s.connected) {
    // The relay ends a session (idle timeout, maximum time) by closing the
    // connection after a warning drawn into the picture; noVNC cannot tell that
    // from a dropped network, so the message says both, warning first.
    const out = { key: "err.sessionEnded", hint: "err.sessionEnded.hint", level: "error" };
    if (closeReason) out.reason = closeReason;
    return out;
  }
  if (closeReason) return { ...classifyReason(closeReason), level: "error" };
  if (s.wsOpened) return { key: "err.connectionLost", level: "error" };
  return { key: "err.unreachable", level: "error" };
}

// A one-time code as typed: spaces dropped, full-width digits (from a Japanese
// input method) made ASCII. Returns "" for none, null when it is not 6 digits.
export function normalizeCode(typed) {
  const s = String(typed || "")
    .replace(/[\s\u3000]/g, "")
    .replace(/[\uFF10-\uFF19]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xfee0));
  if (s === "") return "";
  return /^[0-9]{6}$/.test(s) ? s : null;
}
