// The page's words, Japanese first. Every key exists in both languages
// (missingKeys() lists any that do not); {name} in a message is filled in by
// translate(). No DOM code here.

export const LANGS = ["ja", "en"];
export const DEFAULT_LANG = "ja";

export const MESSAGES = {
  ja: {
    "page.title": "pixelgate 画面転送ブラウザ",
    "app.name": "pixelgate",
    "app.subtitle": "画面転送によるインターネット閲覧",
    "lang.switch": "English",
    "lang.switch.label": "Switch to English",

    "login.heading": "ログイン",
    "login.intro": "インターネット接続系のブラウザを、画面の転送だけで操作します。",
    "login.user": "ユーザー名",
    "login.password": "パスワード",
    "login.code": "ワンタイムコード",
    "login.code.optional": "（設定されている方のみ）",
    "login.code.hint": "認証アプリに表示される 6 桁の数字",
    "login.submit": "接続",
    "login.connecting": "接続しています…",
    "login.note":
      "ファイルのやり取りはできません。クリップボードの受け渡しは、組織のセキュリティポリシーで許可された場合だけ行われます。",
    "login.licenses": "使用しているソフトウェアのライセンス",

    "form.needUser": "ユーザー名を入力してください。",
    "form.needPassword": "パスワードを入力してください。",
    "form.badCode": "ワンタイムコードは 6 桁の数字で入力してください。",

    "bar.user": "利用者: {user}",
    "bar.clipboard": "クリップボード",
    "bar.disconnect": "切断",

    "clip.heading": "クリップボード",
    "clip.close": "閉じる",
    "clip.send.label": "リモートのブラウザへ送るテキスト",
    "clip.send": "リモートのブラウザへ送る",
    "clip.send.empty": "送るテキストを入力してください。",
    "clip.sent":
      "リレーへ送信しました。ブラウザに届くかどうかはセキュリティポリシーが判定します。拒否された場合は画面内に表示されます。",
    "clip.recv.label": "リモートのブラウザから受け取ったテキスト",
    "clip.recv.none": "まだ受け取っていません。",
    "clip.recv.got": "リモートのブラウザからテキストを受け取りました（{n} 文字）。",
    "clip.copy": "この端末にコピー",
    "clip.copied": "この端末のクリップボードにコピーしました。",
    "clip.copyManual": "自動でコピーできませんでした。選択されたテキストを Ctrl+C でコピーしてください。",
    "clip.policy":
      "送ったテキストは、リレーがセキュリティポリシー（許可の有無、文字数、マイナンバー等の検出）に従って確認します。拒否されても、この欄には表示されません。",

    "status.connecting": "リレーに接続しています…",
    "status.connected": "接続しました。",
    "status.disconnected": "切断しました。",

    "err.auth":
      "ログインできませんでした。ユーザー名、パスワード、ワンタイムコードを確認してください。失敗が続くと、しばらくログインできなくなります。",
    "err.locked": "ログインの失敗が続いたため、しばらくログインできません。{wait}もう一度お試しください。",
    "err.locked.wait": "約 {s} 秒待ってから、",
    "err.locked.nowait": "時間をおいてから、",
    "err.totpMissing":
      "ワンタイムコードが必要です。認証アプリに表示される 6 桁の数字を「ワンタイムコード」欄に入力してください。",
    "err.totpWrong":
      "ワンタイムコードが正しくないか、すでに使われています。次のコードが表示されるのを待って、もう一度お試しください。",
    "err.totpNotEnrolled":
      "このアカウントにはワンタイムコードの登録が必要です。情報システム担当者に連絡してください。",
    "err.hostUnavailable":
      "インターネット側のブラウザが現在利用できません。しばらく待ってからもう一度お試しください。続く場合は情報システム担当者に連絡してください。",
    "err.noRoute": "このアカウントに割り当てられたブラウザがありません。情報システム担当者に連絡してください。",
    "err.tooManySessions":
      "同時に使える画面の数の上限に達しています。ほかのタブや端末で開いている画面を切断してから、もう一度お試しください。",
    "err.network": "この端末のネットワークからは利用できません。情報システム担当者に確認してください。",
    "err.sessionEnded":
      "セッションが終了しました（無操作タイムアウトまたは最長利用時間）。続けて使う場合は、もう一度ログインしてください。",
    "err.sessionEnded.hint": "終了前に画面内へ警告が表示されていなかった場合は、通信が切れた可能性があります。",
    "err.connectionLost": "リレーとの接続が切れました。ネットワークを確認して、もう一度ログインしてください。",
    "err.unreachable":
      "リレーに接続できませんでした。ネットワークを確認して、しばらくしてからもう一度お試しください。続く場合は情報システム担当者に連絡してください。",
    "err.credentialsAgain": "リレーが認証情報を再度求めました。もう一度ログインしてください。",
    "err.generic": "接続できませんでした。リレーからの理由: {reason}",
    "err.genericNoReason": "接続できませんでした。情報システム担当者に連絡してください。",
    "err.reasonFromRelay": "リレーからの理由: {reason}",
    "err.noWebSocket": "このブラウザは対応していません。Microsoft Edge または Google Chrome の最新版をお使いください。",
  },

  en: {
    "page.title": "pixelgate screen-transfer browser",
    "app.name": "pixelgate",
    "app.subtitle": "Internet browsing through screen transfer",
    "lang.switch": "日本語",
    "lang.switch.label": "日本語に切り替え",

    "login.heading": "Log in",
    "login.intro": "Use the Internet-side browser through a transferred picture of its screen.",
    "login.user": "User name",
    "login.password": "Password",
    "login.code": "One-time code",
    "login.code.optional": "(only if you have one)",
    "login.code.hint": "The 6 digits shown in your authenticator app",
    "login.submit": "Connect",
    "login.connecting": "Connecting…",
    "login.note":
      "Files cannot be transferred. Clipboard text crosses only where your organisation's security policy allows it.",
    "login.licenses": "Licences of the software used",

    "form.needUser": "Enter your user name.",
    "form.needPassword": "Enter your password.",
    "form.badCode": "The one-time code is 6 digits.",

    "bar.user": "User: {user}",
    "bar.clipboard": "Clipboard",
    "bar.disconnect": "Disconnect",

    "clip.heading": "Clipboard",
    "clip.close": "Close",
    "clip.send.label": "Text to send to the remote browser",
    "clip.send": "Send to the remote browser",
    "clip.send.empty": "Enter the text to send.",
    "clip.sent":
      "Sent to the relay. The security policy decides whether it reaches the browser; a refusal is shown in the picture.",
    "clip.recv.label": "Text received from the remote browser",
    "clip.recv.none": "Nothing received yet.",
    "clip.recv.got": "Text received from the remote browser ({n} characters).",
    "clip.copy": "Copy to this computer",
    "clip.copied": "Copied to this computer's clipboard.",
    "clip.copyManual": "Could not copy automatically. The text is selected: press Ctrl+C to copy it.",
    "clip.policy":
      "The relay checks text you send against the security policy (whether it is allowed, its length, My Number and similar detectors). A refusal is not shown here.",

    "status.connecting": "Connecting to the relay…",
    "status.connected": "Connected.",
    "status.disconnected": "Disconnected.",

    "err.auth":
      "Login failed. Check your user name, password and one-time code. After repeated failures you must wait before trying again.",
    "err.locked": "Too many failed logins: please wait{wait} before trying again.",
    "err.locked.wait": " about {s} seconds",
    "err.locked.nowait": " a while",
    "err.totpMissing": "A one-time code is required. Enter the 6 digits shown in your authenticator app.",
    "err.totpWrong": "The one-time code is wrong or was already used. Wait for the next code and try again.",
    "err.totpNotEnrolled": "Your account needs a one-time code set up. Contact your IT staff.",
    "err.hostUnavailable":
      "The Internet-side browser is not available right now. Wait a moment and try again; if this persists, contact your IT staff.",
    "err.noRoute": "No browser is assigned to your account. Contact your IT staff.",
    "err.tooManySessions":
      "You have reached the limit of screens open at once. Disconnect a screen open in another tab or computer, then try again.",
    "err.network": "This computer's network may not use the relay. Ask your IT staff.",
    "err.sessionEnded":
      "The session ended (idle timeout or maximum time). Log in again to continue.",
    "err.sessionEnded.hint": "If no warning was shown in the picture before it ended, the connection may have been lost.",
    "err.connectionLost": "The connection to the relay was lost. Check the network and log in again.",
    "err.unreachable":
      "Could not reach the relay. Check the network and try again shortly; if this persists, contact your IT staff.",
    "err.credentialsAgain": "The relay asked for credentials again. Please log in again.",
    "err.generic": "Could not connect. The relay's reason: {reason}",
    "err.genericNoReason": "Could not connect. Contact your IT staff.",
    "err.reasonFromRelay": "The relay's reason: {reason}",
    "err.noWebSocket": "This browser is not supported. Use a current Microsoft Edge or Google Chrome.",
  },
};

// The language to start in: ?lang= in the address, then the saved choice, then Japanese.
export function pickLang(search, saved) {
  let asked = null;
  try {
    asked = new URLSearchParams(search || "").get("lang");
  } catch (e) {
    asked = null;
  }
  if (asked && LANGS.includes(asked)) return asked;
  if (saved && LANGS.includes(saved)) return saved;
  return DEFAULT_LANG;
}

export function translate(lang, key, params) {
  const table = MESSAGES[lang] || MESSAGES[DEFAULT_LANG];
  let s = Object.prototype.hasOwnProperty.call(table, key) ? table[key] : MESSAGES[DEFAULT_LANG][key];
  if (s === undefined) return key;
  if (params) {
    s = s.replace(/\{(\w+)\}/g, (m, name) =>
      Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : m,
    );
  }
  return s;
}

// Keys present in one table and not the other (an empty list is the goal).
export function missingKeys() {
  const out = [];
  for (const a of LANGS) {
    for (const b of LANGS) {
      if (a === b) continue;
      for (const k of Object.keys(MESSAGES[a])) if (!(k in MESSAGES[b])) out.push(`${b}: ${k}`);
    }
  }
  return out;
}
