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
