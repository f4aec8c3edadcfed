#!/usr/bin/env python3
"""Write the small seed inputs of the fuzz drivers into corpus/<driver>/.
Run from anywhere: python3 tools/fuzz/gen_seeds.py. Deterministic; the Tight JPEG
seed embeds a fixed 8x8 JPEG (written once with ImageMagick, kept here as hex)."""
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def put(driver, name, data):
    d = os.path.join(HERE, "corpus", driver)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def u8(v): return struct.pack(">B", v)
def u16(v): return struct.pack(">H", v)
def u32(v): return struct.pack(">I", v & 0xffffffff)
def s32(v): return struct.pack(">i", v)


# ---- viewer messages (after the 12-byte version) ----
VER = b"RFB 003.008\n"
pixfmt = u8(32) + u8(24) + u8(0) + u8(1) + u16(255) * 3 + u8(16) + u8(8) + u8(0) + b"\0" * 3
set_pf = u8(0) + b"\0" * 3 + pixfmt
set_enc = u8(2) + b"\0" + u16(4) + s32(16) + s32(7) + s32(-239) + s32(-1063131698)
fbreq = u8(3) + u8(1) + u16(0) + u16(0) + u16(640) + u16(480)
key = u8(4) + u8(1) + u16(0) + u32(0x61)
ptr = u8(5) + u8(1) + u16(10) + u16(20)
cut = u8(6) + b"\0" * 3 + u32(5) + b"hello"
xcaps = u32((1 << 24) | 1) + u32(4096)
xcut = u8(6) + b"\0" * 3 + s32(-len(xcaps)) + xcaps
dsize = u8(251) + b"\0" + u16(800) + u16(600) + u8(1) + b"\0" + \
    u32(0) + u16(0) + u16(0) + u16(800) + u16(600) + u32(0)
qkey = u8(255) + u8(0) + u16(1) + u32(0x61) + u32(0x1e)
put("viewer_msg", "all", VER + set_pf + set_enc + fbreq + key + ptr + cut + xcut + dsize + qkey)
put("viewer_msg", "v33_input", b"RFB 003.003\n" + fbreq + key + ptr)
put("viewer_msg", "apple", b"RFB 003.889\n" + set_enc + fbreq)

# ---- Extended Clipboard payloads and clipboard text ----
def provide(text):
    z = zlib.compress(u32(len(text) + 1) + text + b"\0")
    return u32((1 << 28) | 1) + z

put("xclip", "caps", xcaps)
put("xclip", "request", u32((1 << 25) | 1))
put("xclip", "notify", u32((1 << 27) | 1))
put("xclip", "provide", provide(b"hello\r\nworld"))
put("xclip", "provide_long", provide(b"The quick brown fox jumps over the lazy dog. " * 3))
put("xclip", "text_mynumber", "マイナンバー 1234 5678 9018".encode())
put("xclip", "text_card", b"card 4111 1111 1111 1111 exp 12/30")
put("xclip", "text_secret", "社外秘 Confidential\u202e\x07 ok".encode())

# ---- upstream: first byte chooses the split ----
def rect(x, y, w, h, enc): return u16(x) + u16(y) + u16(w) + u16(h) + s32(enc)
def update(*rects): return u8(0) + b"\0" + u16(len(rects)) + b"".join(rects)

init = b"RFB 003.008\n" + u8(1) + u8(1) + u32(0) + u16(64) + u16(48) + pixfmt + u32(4) + b"host"
raw = rect(0, 0, 4, 4, 0) + bytes(range(64))
zc = zlib.compressobj()
# one 16x16 tile: subencoding 1 (solid) with a 3-byte CPIXEL, then a 2-colour palette tile
t1 = u8(1) + b"\x10\x20\x30"
z1 = zc.compress(t1) + zc.flush(zlib.Z_SYNC_FLUSH)
zrle = rect(8, 8, 16, 16, 16) + u32(len(z1)) + z1
t2 = u8(2) + b"\xff\0\0" + b"\0\0\xff" + bytes([0xaa, 0x55] * 2)
z2 = zc.compress(t2) + zc.flush(zlib.Z_SYNC_FLUSH)
zrle2 = rect(0, 16, 8, 4, 16) + u32(len(z2)) + z2
copy = rect(32, 0, 8, 8, 1) + u16(0) + u16(0)
tight_fill = rect(40, 40, 8, 8, 7) + u8(0x80) + b"\x11\x22\x33"
jpg = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300100b0c0e0c0a100e0d0e12"
    "11101318281a181616183123251d283a333d3c3933383740485c4e404457453738506d51"
    "575f626768673e4d71797064785c656763ffdb0043011112121815182f1a1a2f63423842"
    "636363636363636363636363636363636363636363636363636363636363636363636363"
    "6363636363636363636363636363ffc00011080008000803012200021101031101ffc400"
    "1500010100000000000000000000000000000006ffc40016100101010000000000000000"
    "0000000000001461ffc4001501010100000000000000000000000000000406ffc4001811"
    "000301010000000000000000000000000004155152ffda000c03010002110311003f0099"
    "ab4052cb5b915458d3ffd9")
def clen(n):
    b = [n & 0x7f]
    if n > 0x7f:
        b[0] |= 0x80
        b.append(n >> 7 & 0x7f)
        if n > 0x3fff:
            b[1] |= 0x80
            b.append(n >> 14)
    return bytes(b)
tight_jpeg = rect(48, 0, 8, 8, 7) + u8(0x90) + clen(len(jpg)) + jpg
# basic, stream 0, no filter: 4x2 pixels of 3 bytes (24 >= 12, so zlib)
tz = zlib.compressobj()
tb = tz.compress(bytes(range(24))) + tz.flush(zlib.Z_SYNC_FLUSH)
tight_zlib = rect(0, 40, 4, 2, 7) + u8(0x00) + clen(len(tb)) + tb
tight_small = rect(4, 40, 2, 1, 7) + u8(0x00) + bytes(6)
cursor = rect(2, 2, 4, 4, -239) + bytes(range(64)) + bytes([0xf0, 0x90, 0x90, 0xf0])
dsize = rect(0, 0, 80, 60, -223)
bell = u8(2)
scut = u8(3) + b"\0" * 3 + u32(3) + b"abc"
sxcut = u8(3) + b"\0" * 3 + s32(-len(xcaps)) + xcaps
put("upstream", "raw_zrle", b"\x80" + init + update(raw, rect(8, 8, 16, 16, 16) + u32(len(z1)) + z1))
put("upstream", "all", b"\x10" + init + update(raw, zrle, zrle2, copy, tight_fill, tight_jpeg,
                                              tight_zlib, tight_small, cursor) + bell + scut +
    sxcut + update(dsize) + update(raw))
put("upstream", "tight_jpeg", b"\xff" + init + update(tight_jpeg))
put("upstream", "v33", b"\x05" + b"RFB 003.003\n" + u32(1) + init[12 + 6:] + update(copy) + bell)

# ---- users files ----
H = "$scrypt$ln=10,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
put("users", "two", ("# users\nalice:staff,it:%s:JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP:\r\n"
                     "\n  # c\nbob:staff:%s::locked\n" % (H, H)).encode())
put("users", "one", ("carol::%s::\n" % H).encode())
put("users", "bad", b"al ice::x::\nbob:st@ff:$scrypt$ln=9,r=8,p=1$AA$AA::frozen\n")

# ---- config files ----
put("config", "basic", b"; a comment\n[relay]\nlisten = 127.0.0.2:6000\nsecurity = none\n"
    b"max_fps = 60\n\n[upstream]\naddress = 127.0.0.1:5901\n")
put("config", "routes", b"[relay]\nsecurity = none\n[routes]\nuser.alice = 127.0.0.1:5901\n"
    b"group.staff = [::1]:5902\n[ldap]\ngroup_map = cn=staff,ou=g,dc=ex,dc=org=staff\n"
    b"[host 127.0.0.1:5901]\n")
put("config", "policy", "[relay]\nsecurity = none\n[upstream]\naddress = 127.0.0.1:5901\n"
    "[policy]\nclipboard_to_browser = text\nclipboard_to_viewer = text\nmerge = first\n"
    "detect = mynumber,credit_card\ndeny_pattern = (?i)secret\ndeny_pattern = 機密\n"
    "idle_timeout = 15m\nallowed_networks = 10.0.0.0/8, ::1/128\n"
    "[policy staff]\nview_only = yes\nmax_session = 8h\nkeys_burst = 100\n".encode())

# ---- the worker channel: records of a header byte and a packet ----
# h & 3: 0 literal (u16 LE length, bytes), 1 sized to its type (u16 LE length of the
# bytes given, delta byte: d % 9 - 4), 2 receive what is queued, 3 zero-length packet;
# (h >> 2) & 3: descriptors attached.
CH = dict(start=1, key=2, pointer=3, refresh=4, update_ack=5, clip_to_host=6, ping=7,
          connected=32, resize=33, damage=34, update_end=35, cursor=36, bell=37, name=38,
          error=39, clip_from_host=40, clip_caps=41, clip_dropped=42, pong=43, log=44)


def le16(v): return struct.pack("<H", v)
def le32(v): return struct.pack("<I", v & 0xffffffff)


def chan(t, body=b"", delta=0, fds=0):
    b = le32(t) + body
    return u8(1 | fds << 2) + le16(len(b)) + u8(delta + 4) + b


def chan_lit(data, fds=0):
    return u8(fds << 2) + le16(len(data)) + data


put("channel", "worker", chan(CH["connected"]) + chan(CH["name"], le16(4) + b"demo") +
    chan(CH["resize"], le16(640) + le16(480), fds=1) + chan(CH["damage"], le16(0) * 2 +
    le16(640) + le16(480)) + chan(CH["update_end"]) + u8(2) + chan(CH["cursor"], le16(1) * 4) +
    chan(CH["bell"]) + chan(CH["clip_from_host"], u8(1) + b"\0" * 3 + le32(5) + b"hello") +
    chan(CH["clip_caps"], u8(1)) + chan(CH["clip_dropped"], u8(2) + b"\0" * 3 + le32(9) +
    le32(6)) + chan(CH["pong"], le32(7)) + chan(CH["log"], u8(2) + b"\0" + le16(4) + b"note") +
    chan(CH["error"], le16(3) + b"bye"))
put("channel", "main", chan(CH["start"], b"127.0.0.1".ljust(256, b"\0") + le16(5901)) +
    chan(CH["key"], le32(0x61) + le32(0x1e) + u8(1)) + chan(CH["pointer"], le16(3) * 2 + u8(1)) +
    chan(CH["refresh"]) + chan(CH["update_ack"]) + chan(CH["ping"], le32(7)) +
    chan(CH["clip_to_host"], u8(2) + b"\0" * 3 + le32(2) + b"hi"))
put("channel", "malformed", chan(CH["key"], delta=-1) + chan(CH["key"], delta=4) +
    chan(CH["cursor"], delta=4) + chan(99) + chan_lit(b"\x02\0") + chan(CH["damage"], fds=1) +
    chan(CH["resize"], delta=1, fds=1) + u8(3) + u8(2) + chan(CH["bell"]))

# ---- audit logs: one flags byte, then files separated by \x1e\x1e ----
# flags: 1 open and append to the last file; 10 (both bits) a line of
# PG_AUDIT_MAX_LINE - 8 + (flags >> 4) bytes first, ended by a newline when 4.
import hashlib
import json


def audit_chain(events, seq=1, prev="0" * 64):
    """Lines of a chain: events are (event, {fields}); returns (text, last hash, next seq)."""
    out = b""
    for i, (ev, fields) in enumerate(events):
        rec = {"ts": "2025-04-01T00:12:%02d.%03dZ" % (i % 60, i), "seq": seq, "event": ev}
        rec.update(fields)
        rec["prev"] = prev
        line = json.dumps(rec, separators=(",", ":"), ensure_ascii=False).encode()
        out += line + b"\n"
        prev = hashlib.sha256(line).hexdigest()
        seq += 1
    return out, prev, seq


a1, h1, s1 = audit_chain([("chain-start", {}),
                          ("auth-success", {"user": "tanaka", "source": "10.0.0.5:40312"}),
                          ("clipboard-blocked", {"user": "鈴木", "bytes": 12, "view_only": False,
                                                 "reason": None})])
a2, h2, s2 = audit_chain([("chain-continued", {"prev_seq": s1 - 1, "prev_hash": h1}),
                          ("session-end", {"host": "127.0.0.1:5901"})], s1, h1)
put("audit_verify", "one", b"\x00" + a1)
put("audit_verify", "append", b"\x01" + a1)
put("audit_verify", "rotated", b"\x01" + a1 + b"\x1e\x1e" + a2)
put("audit_verify", "cut", b"\x01" + a1 + a2[:40])
put("audit_verify", "tampered", b"\x00" + a1.replace(b"tanaka", b"tanakb") + b"\x1e\x1e" + a2)
put("audit_verify", "broken", b"\x01" + audit_chain(
    [("chain-start", {}), ("chain-broken-at-start", {"reason": "cut", "last_good_seq": 1})])[0])
put("audit_verify", "long_line", b"\x8f" + a1)

# ---- one decoder alone: framebuffer byte, then rectangles ----
# enc byte: & 3 picks Raw, CopyRect, ZRLE, Tight; & 4 feeds a prefix of
# (enc >> 3) / 32 of the body first; then x, y, w, h (u8), u16 length, body.
def drect(kind, x, y, w, h, body, prefix=None):
    e = kind if prefix is None else kind | 4 | prefix << 3
    return u8(e) + u8(x) + u8(y) + u8(w) + u8(h) + u16(len(body)) + body


def zrle_body(zc, tiles):
    z = zc.compress(tiles) + zc.flush(zlib.Z_SYNC_FLUSH)
    return u32(len(z)) + z


def tight_z(zs, ctl, head, raw):
    if len(raw) < 12:
        return u8(ctl) + head + raw
    z = zs.compress(raw) + zs.flush(zlib.Z_SYNC_FLUSH)
    return u8(ctl) + head + clen(len(z)) + z


FB = u8(0x33)  # 64x64
zc = zlib.compressobj()
zrle_tiles = [
    (u8(1) + b"\x10\x20\x30"),                                            # solid
    (u8(0) + bytes(range(16 * 4 * 3))),                                    # raw 16x4
    (u8(2) + b"\xff\0\0" + b"\0\0\xff" + bytes([0xaa, 0x55] * 4)),        # 2 colours
    (u8(128) + b"\x01\x02\x03" + u8(30) + b"\x04\x05\x06" + u8(224)),   # RLE, 31 + 225
    (u8(130) + b"\x01\x02\x03" + b"\x04\x05\x06" + u8(0x80) + u8(40) + u8(1) +
     u8(0x81) + u8(213)),                                                 # palette RLE
]
put("decoder", "zrle", FB + drect(2, 0, 0, 16, 16, zrle_body(zc, zrle_tiles[0])) +
    drect(2, 16, 0, 16, 4, zrle_body(zc, zrle_tiles[1]), prefix=16) +
    drect(2, 0, 16, 16, 4, zrle_body(zc, zrle_tiles[2])) +
    drect(2, 32, 32, 16, 16, zrle_body(zc, zrle_tiles[3]), prefix=31) +
    drect(2, 40, 8, 16, 16, zrle_body(zc, zrle_tiles[4])))
zs = [zlib.compressobj() for _ in range(4)]
put("decoder", "tight", FB +
    drect(3, 0, 0, 8, 8, u8(0x80) + b"\x11\x22\x33") +                       # fill
    drect(3, 8, 0, 4, 2, tight_z(zs[0], 0x00, b"", bytes(range(24)))) +       # copy, zlib 0
    drect(3, 12, 0, 2, 1, tight_z(zs[0], 0x00, b"", bytes(6))) +              # copy, stored
    drect(3, 0, 8, 16, 4, tight_z(zs[1], 0x50, u8(1) + u8(1) + b"\xff\0\0\0\0\xff",
                                  bytes([0xa5, 0x5a] * 4)), prefix=8) +      # 2-colour palette
    drect(3, 0, 12, 8, 2, tight_z(zs[2], 0x60, u8(1) + u8(3) + bytes(range(12)),
                                  bytes([0, 1, 2, 3] * 4))) +                 # 4-colour palette
    drect(3, 16, 16, 8, 4, tight_z(zs[3], 0x70, u8(2), bytes(range(96))), prefix=20) +  # gradient
    drect(3, 32, 0, 4, 4, u8(0xa0) + clen(48) + bytes(range(48))) +           # no-zlib flag
    drect(3, 48, 0, 8, 8, u8(0x90) + clen(len(jpg)) + jpg, prefix=30))       # JPEG
put("decoder", "raw_copy", FB + drect(0, 0, 0, 4, 4, bytes(range(64))) +
    drect(0, 60, 60, 4, 4, bytes(range(64)), prefix=17) + drect(1, 8, 8, 4, 4, u16(0) + u16(0)) +
    drect(1, 8, 8, 0, 4, u16(0) + u16(0)))
put("decoder", "reset", FB + drect(3, 8, 0, 4, 2, tight_z(zs[0], 0x00, b"", bytes(range(24)))) +
    drect(3, 8, 0, 4, 2, tight_z(zlib.compressobj(), 0x01, b"", bytes(range(24)))))


# ---- session recordings (record/recfile.h): header, META, records ----
def rec(t, body, flags=0, time=0):
    return u8(t) + u8(flags) + u16(0) + u32(len(body)) + u32(time >> 32) + u32(time) + body


def recfile(*records, meta_w=64, meta_h=48):
    meta = ('{"format":"pixelgate-recording","version":1,"session":"0123456789abcdef",'
            '"user":"u","browser_host":"127.0.0.1:5901","started":"2026-01-02T03:04:05+09:00",'
            '"width":%d,"height":%d}' % (meta_w, meta_h)).encode()
    return b"PGREC\0\r\n" + u32(1) + u32(0) + rec(1, meta) + b"".join(records)


rz = [zlib.compressobj() for _ in range(4)]
key = update(rect(0, 0, 64, 48, -223), rect(0, 0, 64, 48, 7) + u8(0x80) + b"\x10\x20\x30",
             rect(0, 0, 8, 2, 7) + tight_z(rz[0], 0x00, b"", bytes(range(48))))
delta = update(rect(8, 8, 4, 4, 0) + bytes(range(64)), rect(16, 16, 4, 4, 1) + u16(0) + u16(0),
               rect(0, 8, 8, 2, 7) + tight_z(rz[0], 0x00, b"", bytes(range(48, 96))))
resize = update(rect(0, 0, 80, 40, -223), rect(0, 0, 80, 40, 7) + u8(0x80) + b"\0\0\xff")
ev = b'{"event":"key","viewer":"3","down":true}'
whole = recfile(rec(2, key, 1, 0), rec(3, ev, 0, 1000), rec(2, delta, 0, 100000),
                rec(9, b"future", 0, 150000), rec(2, resize, 1, 200000),
                rec(2, delta[:4] + rect(0, 0, 4, 4, 0) + bytes(64), 0, 300000),
                rec(4, b'{"reason":"closed"}', 0, 300000))
put("recording", "whole", whole)
put("recording", "cut", whole[:len(whole) - 30])
put("recording", "no_frames", recfile(rec(3, ev, 0, 5), rec(4, b"{}", 0, 5)))

# ---- watermark templates: template, NUL, user name ----
put("wm_template", "every", "機密 {user} {addr}\\n{date} {time} {host} #{session}\0山田 太郎".encode())
put("wm_template", "braces", b"{{user}} }} a\\b \\\\n\0u")
put("wm_template", "hostile_user", b"{user}|{user}\0evil\nline\x1b[31m\xff\xe3\x81 \xe2\x80\xa8")
put("wm_template", "bad", b"x {usr} {user")
put("wm_template", "lines", b"1\\n2\\n3\\n4\\n5\\n6\\n7\\n{user}\0a")
