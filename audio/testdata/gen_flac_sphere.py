#!/usr/bin/python3
"""Makes the golden FLAC and NIST SPHERE files of package audio.

Run from anywhere with /usr/bin/python3 (needs flac ≥ 1.4 and sox):

    /usr/bin/python3 audio/testdata/gen_flac_sphere.py

It writes testdata/flac/*.flac, testdata/sphere/* and
testdata/flac_sphere.json. Valid FLAC files are made by the real encoder
(`flac`) from speech in samples/fsdd and sox syntheses, at several -0..-8
levels, with 8, 12, 16, 20, 24 and 32 bits, 1 to 8 channels, odd block
sizes, metadata to skip, an ID3v2 prefix and a stream without a sample
count (encoded to a pipe). Their expected samples come from `flac -d`: the
SHA-256 of the decoded integers (interleaved, int32 little-endian) and
sox's report (sox --i, sox stat of the channels averaged). SPHERE files
are written by sox (16-bit either byte order, μ-law) or by hand (A-law,
a TIMIT-style header). Malformed files are byte edits of valid ones, each
with the error kind and a phrase the message must contain.
"""
import hashlib
import json
import os
import re
import struct
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FSDD = os.path.join(ROOT, "samples", "fsdd", "recordings")
FLAC_DIR = os.path.join(HERE, "flac")
SPH_DIR = os.path.join(HERE, "sphere")
TMP = tempfile.mkdtemp()


def run(cmd, **kw):
    if cmd[0] == "sox" and "--i" not in cmd:
        cmd = ["sox", "-R"] + cmd[1:]  # repeatable noise
    return subprocess.run(cmd, check=True, capture_output=True, **kw)


def tmp(name):
    return os.path.join(TMP, name)


def sox_stat(p, channels, *t):
    cmd = ["sox"] + list(t) + [p, "-n"] + (["remix", "-"] if channels > 1 else []) + ["stat"]
    err = run(cmd).stderr.decode()
    val = {}
    for line in err.splitlines():
        m = re.match(r"^(.*?):\s+(-?[0-9.]+)\s*$", line)
        if m:
            val[m.group(1).strip()] = float(m.group(2))
    peak = max(val["Maximum amplitude"], -val["Minimum amplitude"])
    return {"peak": peak, "rms": val["RMS     amplitude"], "dc": val["Mean    amplitude"]}


def sox_info(p, typ=None):
    t = ["-t", typ] if typ else []
    out = run(["sox", "--i"] + t + [p]).stdout.decode()
    ch = int(re.search(r"Channels\s*:\s*(\d+)", out).group(1))
    rate = int(re.search(r"Sample Rate\s*:\s*(\d+)", out).group(1))
    m = re.search(r"= (\d+) samples", out)
    frames = int(m.group(1)) if m else None  # a FLAC stream without a sample count
    enc = re.search(r"Sample Encoding\s*:\s*(.*)", out).group(1).strip()
    return ch, rate, frames, enc


def wav_ints(p):
    """The integer samples of a PCM WAV, interleaved (valid bits only)."""
    b = open(p, "rb").read()
    assert b[:4] == b"RIFF" and b[8:12] == b"WAVE"
    i, fmt, data = 12, None, None
    while i + 8 <= len(b):
        cid, size = b[i:i + 4], struct.unpack("<I", b[i + 4:i + 8])[0]
        if cid == b"fmt ":
            fmt = b[i + 8:i + 8 + size]
        elif cid == b"data":
            data = b[i + 8:i + 8 + size]
        i += 8 + size + (size & 1)
    tag, ch, rate, _, align, bits = struct.unpack("<HHIIHH", fmt[:16])
    valid = bits
    if tag == 0xFFFE:
        valid = struct.unpack("<H", fmt[18:20])[0]
    nb = bits // 8
    out = []
    for j in range(0, len(data), nb):
        raw = data[j:j + nb]
        if nb == 1:
            v = raw[0] - 128
        else:
            v = int.from_bytes(raw, "little", signed=True)
        out.append(v >> (bits - valid))
    return ch, rate, valid, out


def sha_ints(vals):
    return hashlib.sha256(b"".join(struct.pack("<i", v) for v in vals)).hexdigest()


def flac_blocks(b):
    """Offsets of the metadata blocks and of the first frame."""
    assert b[:4] == b"fLaC"
    i, blocks = 4, []
    while True:
        last, kind = b[i] & 0x80, b[i] & 0x7F
        size = int.from_bytes(b[i + 1:i + 4], "big")
        blocks.append((i, kind, size))
        i += 4 + size
        if last:
            return blocks, i


valid, bad = [], []


def expect_flac(name):
    p = os.path.join(FLAC_DIR, name)
    dec = tmp(name + ".wav")
    run(["flac", "-s", "-d", "-f", "-o", dec, p])
    ch, rate, bits, ints = wav_ints(dec)
    if bits in (12, 20):
        # sox reads neither these FLAC files nor the WAVs flac -d makes of
        # them (padded samples): the figures are computed here, as sox
        # would, from flac -d's integers.
        sch, srate, frames = ch, rate, len(ints) // ch
        mono = [sum(ints[i:i + ch]) / ch / 2 ** (bits - 1) for i in range(0, len(ints), ch)]
        stat = {"peak": round(max(abs(v) for v in mono), 6), "rms": round((sum(v * v for v in mono) / len(mono)) ** 0.5, 6),
                "dc": round(sum(mono) / len(mono), 6)}
    else:
        sch, srate, frames, _ = sox_info(p)
        frames = len(ints) // ch if frames is None else frames
        stat = sox_stat(dec, ch)
    assert (sch, srate) == (ch, rate) and frames * ch == len(ints), (name, sch, srate, frames, ch, rate, len(ints))
    b = open(p, "rb").read()
    if b[:3] == b"ID3":
        b = b[10 + (b[6] << 21 | b[7] << 14 | b[8] << 7 | b[9]):]
    at = flac_blocks(b)[0][0][0] + 4 + 10  # STREAMINFO: rate, channels, bits, total in 8 bytes
    total = struct.unpack(">Q", b[at:at + 8])[0] & (2**36 - 1)
    valid.append({"name": name, "container": "flac", "format": "pcm", "bits": bits, "channels": ch, "sample_rate": rate,
                  "frames": len(ints) // ch, "streamed": total == 0, "sha256": sha_ints(ints), **stat})


def enc(name, src, *opts):
    run(["flac", "-s", "-f", "--no-padding"] + list(opts) + ["-o", os.path.join(FLAC_DIR, name), src])
    expect_flac(name)


def badfile(dirname, name, data, kind, phrase, info_ok=False, info_phrase=None):
    with open(os.path.join(dirname, name), "wb") as f:
        f.write(data)
    e = {"name": name, "kind": kind, "phrase": phrase, "info_ok": info_ok}
    if info_phrase:
        e["info_phrase"] = info_phrase
    bad.append(e)


def ext_wav(path, valid_bits, container, vals, ch=1, rate=8000):
    """A WAVE_FORMAT_EXTENSIBLE file with valid_bits in a wider container,
    which is how flac takes 12- and 20-bit input."""
    nb = container // 8
    data = b"".join(struct.pack("<i", v << (container - valid_bits))[:nb] for v in vals)
    fmt = struct.pack("<HHIIHHHHI", 0xFFFE, ch, rate, rate * ch * nb, ch * nb, container, 22, valid_bits, (1 << ch) - 1)
    fmt += struct.pack("<H", 1) + bytes([0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xAA, 0, 0x38, 0x9B, 0x71])
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", len(body)) + body)


def make_flac():
    os.makedirs(FLAC_DIR, exist_ok=True)
    for f in os.listdir(FLAC_DIR):
        os.remove(os.path.join(FLAC_DIR, f))
    speech = os.path.join(FSDD, "0_george_0.wav")          # 8 kHz 16-bit, 2384 frames
    speech2 = os.path.join(FSDD, "3_jackson_0.wav")
    s16k = tmp("s16k.wav")                                   # two recordings, 16 kHz stereo: speech / speech + tone
    run(["sox", speech, "-r", "16000", tmp("a.wav")])
    run(["sox", speech2, "-r", "16000", tmp("b.wav"), "trim", "0", "0.3"])
    run(["sox", "-M", tmp("a.wav"), tmp("b.wav"), s16k, "trim", "0", "0.3"])
    corr = tmp("corr.wav")                                   # nearly identical channels: mid/side coding
    run(["sox", "-n", "-r", "16000", "-c", "1", tmp("n.wav"), "synth", "0.3", "whitenoise", "vol", "0.01"])
    run(["sox", "-M", tmp("a.wav"), tmp("a.wav"), tmp("m.wav"), "trim", "0", "0.3"])
    run(["sox", "-n", "-r", "16000", "-c", "2", tmp("n2.wav"), "synth", "0.3", "whitenoise", "vol", "0.003"])
    run(["sox", "-m", tmp("m.wav"), tmp("n2.wav"), corr])
    # Stereo coded every way: right a tone and left the tone with a little
    # noise (side/right), then the other way round (left/side), then
    # silence (CONSTANT subframes).
    modes = tmp("modes.wav")
    run(["sox", "-n", "-r", "16000", "-c", "1", tmp("tone.wav"), "synth", "0.3", "sine", "440", "vol", "0.5"])
    run(["sox", "-m", "-v", "1", tmp("tone.wav"), "-v", "1", tmp("n.wav"), tmp("tn.wav")])
    run(["sox", "-M", tmp("tn.wav"), tmp("tone.wav"), tmp("sr.wav")])
    run(["sox", "-M", tmp("tone.wav"), tmp("tn.wav"), tmp("ls.wav")])
    run(["sox", "-D", tmp("sr.wav"), tmp("ls.wav"), "-b", "16", modes, "pad", "0", "0.6"])  # -D: no dither in the silence
    s24 = tmp("s24.wav")
    run(["sox", "-n", "-r", "44100", "-b", "24", "-c", "2", s24, "synth", "0.1", "pinknoise", "sine", "300-3000", "vol", "0.4"])
    s8 = tmp("s8.wav")
    run(["sox", speech, "-b", "8", s8])
    s32 = tmp("s32.wav")
    run(["sox", speech, "-b", "32", s32, "trim", "0", "0.1"])
    ch6 = tmp("ch6.wav")
    run(["sox", "-n", "-r", "8000", "-b", "16", "-c", "6", ch6, "synth", "0.1",
         "sine", "200", "sine", "300", "sine", "400", "pinknoise", "sine", "500", "whitenoise", "vol", "0.3"])
    ch8 = tmp("ch8.wav")
    run(["sox", "-M"] + [speech] * 8 + [ch8, "trim", "0", "0.05"])
    import random
    rnd = random.Random(1)
    v20, v12 = tmp("v20.wav"), tmp("v12.wav")
    ext_wav(v20, 20, 24, [int(2**18 * __import__("math").sin(i / 7)) + rnd.randint(-300, 300) for i in range(2000)])
    ext_wav(v12, 12, 16, [int(2**10 * __import__("math").sin(i / 5)) + rnd.randint(-30, 30) for i in range(2000)])

    enc("speech_s16_mono_l5.flac", speech, "-5")
    enc("speech_s16_mono_l0.flac", speech, "-0")
    enc("speech_s16_mono_l8_b1000.flac", speech, "-8", "-b", "1000")
    enc("speech_s16_mono_b17.flac", speech, "-3", "--lax", "-b", "17")
    enc("speech_s16_mono_b65535.flac", speech, "-5", "--lax", "-b", "65535")
    enc("s16_stereo_16k_l1.flac", s16k, "-1")
    enc("s16_stereo_16k_l8.flac", s16k, "-8")
    enc("s16_stereo_midside_l8.flac", corr, "-8")
    enc("s16_stereo_midside_l4.flac", corr, "-4", "-b", "1152")
    enc("s16_stereo_modes_l5.flac", modes, "-5")
    enc("s24_stereo_44k_l8.flac", s24, "-8")
    enc("s24_stereo_44k_l2.flac", s24, "-2")
    enc("s8_mono_l5.flac", s8, "-5")
    enc("s32_mono_l5.flac", s32, "-5")
    enc("v20_mono_l6.flac", v20, "-6")
    enc("v12_mono_l7.flac", v12, "-7")
    enc("s16_6ch_l5.flac", ch6, "-5")
    enc("s16_8ch_l3.flac", ch8, "-3")
    run(["sox", speech, tmp("tiny.wav"), "trim", "0", "5s"])
    enc("tiny_5_samples.flac", tmp("tiny.wav"))
    # Metadata to skip: tags, padding, a seek table, a picture.
    run(["flac", "-s", "-f", "-5", "--padding=1000", "-T", "TITLE=zero", "-T", "ARTIST=george",
         "--picture=3|image/png|cover|1x1x24|" + make_png(), "-S", "100x", "-o",
         os.path.join(FLAC_DIR, "metadata_blocks.flac"), speech])
    expect_flac("metadata_blocks.flac")
    # An ID3v2 tag in front, as some taggers leave it.
    base = open(os.path.join(FLAC_DIR, "speech_s16_mono_l5.flac"), "rb").read()
    payload = b"TIT2\x00\x00\x00\x05\x00\x00\x03zero" + b"\x00" * 7
    id3 = b"ID3\x04\x00\x00" + bytes([0, 0, 0, len(payload)]) + payload
    with open(os.path.join(FLAC_DIR, "id3_prefix.flac"), "wb") as f:
        f.write(id3 + base)
    expect_flac("id3_prefix.flac")
    # Encoded to a pipe: no sample count and no MD5 in STREAMINFO.
    raw = tmp("speech.raw")
    run(["sox", speech, "-t", "raw", raw])
    out = subprocess.run("flac -s -5 --force-raw-format --endian=little --sign=signed --channels=1 --bps=16 "
                         "--sample-rate=8000 -c - < %s | cat" % raw, shell=True, check=True, capture_output=True).stdout
    with open(os.path.join(FLAC_DIR, "stream_no_total.flac"), "wb") as f:
        f.write(out)
    expect_flac("stream_no_total.flac")

    # Malformed ones, from a stream of exactly three 1152-sample frames.
    three, twice = tmp("three.wav"), tmp("twice.wav")
    run(["sox", speech, speech, twice])
    run(["sox", twice, three, "trim", "0", str(3 * 1152) + "s"])
    frames = []
    for k in (1, 2, 3):
        run(["sox", twice, tmp("pre.wav"), "trim", "0", str(k * 1152) + "s"])
        run(["flac", "-s", "-f", "-5", "--no-padding", "-b", "1152", "-o", tmp("pre.flac"), tmp("pre.wav")])
        b = open(tmp("pre.flac"), "rb").read()
        frames.append(b[flac_blocks(b)[1]:])
    run(["flac", "-s", "-f", "-5", "--no-padding", "-b", "1152", "-o", tmp("three.flac"), three])
    g = open(tmp("three.flac"), "rb").read()
    blocks, audio = flac_blocks(g)
    assert g[audio:] == frames[2] and frames[2].startswith(frames[1]) and frames[1].startswith(frames[0])
    f0, f1 = len(frames[0]), len(frames[1])
    si = blocks[0][0] + 4  # STREAMINFO body
    D = FLAC_DIR

    def edit(at, byte):
        b = bytearray(g)
        b[at] = byte
        return bytes(b)

    def with_total(n):
        b = bytearray(g)
        x = struct.unpack(">Q", b[si + 10:si + 18])[0]
        x = (x & ~(2**36 - 1)) | n
        b[si + 10:si + 18] = struct.pack(">Q", x)
        return bytes(b)

    badfile(D, "bad_empty_after_marker.flac", b"fLaC", "truncated", "file ends inside the FLAC STREAMINFO")
    badfile(D, "bad_trunc_midframe.flac", g[:audio + f1 + 100], "truncated", "file ends inside the FLAC frame at byte %d" % (audio + f1))
    badfile(D, "bad_trunc_boundary.flac", g[:audio + f1], "truncated", "STREAMINFO declares 3456 samples, but the FLAC frames hold 2304")
    badfile(D, "bad_crc16_first.flac", edit(audio + f0 - 1, g[audio + f0 - 1] ^ 1), "malformed", "CRC-16")
    badfile(D, "bad_crc16_middle.flac", edit(audio + f1 - 1, g[audio + f1 - 1] ^ 1), "malformed", "CRC-16", info_ok=True)
    badfile(D, "bad_crc8.flac", edit(audio + f0 + 4, g[audio + f0 + 4] ^ 2), "malformed", "header CRC-8", info_ok=True)
    badfile(D, "bad_total_huge.flac", with_total(2**36 - 1), "truncated", "STREAMINFO declares 68719476735 samples, but the")
    badfile(D, "bad_total_more.flac", with_total(3456 + 1000), "truncated", "STREAMINFO declares 4456 samples, but the FLAC frames hold 3456")
    badfile(D, "bad_total_less.flac", with_total(3456 - 100), "malformed", "more samples than the 3356 STREAMINFO declares")
    badfile(D, "bad_md5.flac", edit(si + 20, g[si + 20] ^ 0xFF), "malformed", "MD5 signature", info_ok=True)
    b = bytearray(g)
    b[si + 12] = (b[si + 12] & ~0x01) | 0x01  # bits per sample 16 -> 24: (bps-1) low bit in byte 12
    b[si + 13] = (b[si + 13] & 0x0F) | 0x70
    badfile(D, "bad_bps.flac", bytes(b), "malformed", "16 bits per sample, STREAMINFO says 24")
    b = bytearray(g)
    b[blocks[0][0]] = (b[blocks[0][0]] & 0x80) | 1
    badfile(D, "bad_no_streaminfo.flac", bytes(b), "malformed", "not STREAMINFO")
    b = bytearray(g[:audio])
    b[blocks[-1][0]] &= 0x7F  # the last block no longer last: a huge padding block follows
    b += bytes([0x81, 0xFF, 0xFF, 0xF0]) + g[audio:]
    badfile(D, "bad_meta_size.flac", bytes(b), "truncated", "declares 16777200 bytes, but")
    badfile(D, "bad_trailing.flac", g + b"\x00junk after the frames" * 3, "malformed", "data after the last FLAC frame",
            info_phrase="no FLAC frame sync")
    badfile(D, "bad_sync.flac", edit(audio + f0, 0x00), "malformed", "no FLAC frame sync at byte %d" % (audio + f0), info_ok=True)
    badfile(D, "bad_id3_mp3.flac", b"ID3\x04\x00\x00\x00\x00\x00\x02\x00\x00\xff\xfb\x90\x00\x00\x00", "unsupported", "MP3")
    st = open(os.path.join(FLAC_DIR, "stream_no_total.flac"), "rb").read()
    badfile(D, "bad_stream_trunc.flac", st[:len(st) - 7], "truncated", "file ends inside the FLAC frame")


def make_png():
    """A 1x1 PNG for the picture block."""
    import zlib
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)) + \
        chunk(b"IDAT", zlib.compress(b"\x00\x80\x80\x80")) + chunk(b"IEND", b"")
    p = tmp("cover.png")
    with open(p, "wb") as f:
        f.write(png)
    return p


def sphere_header(fields, size=1024):
    h = "NIST_1A\n%7d\n" % size
    for name, typ, val in fields:
        if typ == "s":
            h += "%s -s%d %s\n" % (name, len(val), val)
        else:
            h += "%s -%s %s\n" % (name, typ, val)
    h += "end_head\n"
    h = h.encode()
    assert len(h) <= size
    return h + b" " * (size - len(h))


def expect_sphere(name, fmt, bits, like=None):
    """like: a file sox reads with the same samples, when it cannot read
    this one (A-law SPHERE, a SPHERE file named .WAV)."""
    p = os.path.join(SPH_DIR, name)
    src = like or [p]
    out = run(["sox", "--i"] + src).stdout.decode()
    ch = int(re.search(r"Channels\s*:\s*(\d+)", out).group(1))
    rate = int(re.search(r"Sample Rate\s*:\s*(\d+)", out).group(1))
    frames = int(re.search(r"= (\d+) samples", out).group(1))
    raw = run(["sox"] + src + ["-t", "s16", "-"]).stdout
    ints = list(struct.unpack("<%dh" % (len(raw) // 2), raw))
    assert len(ints) == frames * ch
    valid.append({"name": name, "container": "sphere", "format": fmt, "bits": bits, "channels": ch, "sample_rate": rate,
                  "frames": frames, "streamed": False, "sha256": sha_ints(ints), **sox_stat(src[0], ch)})


def make_sphere():
    os.makedirs(SPH_DIR, exist_ok=True)
    for f in os.listdir(SPH_DIR):
        os.remove(os.path.join(SPH_DIR, f))
    speech = os.path.join(FSDD, "0_george_0.wav")
    D = SPH_DIR
    run(["sox", speech, os.path.join(D, "sox_s16le_mono.sph")])
    run(["sox", "-M", speech, os.path.join(FSDD, "3_jackson_0.wav"), "-B", os.path.join(D, "sox_s16be_stereo.sph"), "trim", "0", "0.2"])
    run(["sox", speech, "-e", "u-law", os.path.join(D, "sox_ulaw.sph")])
    expect_sphere("sox_s16le_mono.sph", "pcm", 16)
    expect_sphere("sox_s16be_stereo.sph", "pcm", 16)
    expect_sphere("sox_ulaw.sph", "ulaw", 8)
    # A-law: sox reads it but does not write it; the header is ours.
    run(["sox", speech, "-e", "a-law", "-t", "raw", tmp("alaw.raw")])
    alaw = open(tmp("alaw.raw"), "rb").read()
    run(["sox", "-t", "raw", "-e", "a-law", "-b", "8", "-r", "8000", "-c", "1", tmp("alaw.raw"), "-e", "a-law", tmp("alaw.wav")])
    n = len(alaw)
    with open(os.path.join(D, "alaw.sph"), "wb") as f:
        f.write(sphere_header([("sample_count", "i", n), ("channel_count", "i", 1), ("sample_n_bytes", "i", 1),
                               ("sample_rate", "i", 8000), ("sample_coding", "s", "alaw"), ("sample_byte_format", "s", "1")]) + alaw)
    expect_sphere("alaw.sph", "alaw", 8, like=[tmp("alaw.wav")])
    # TIMIT's layout: no sample_coding, more fields, an upper-case .WAV name.
    pcm = run(["sox", speech, "-r", "16000", "-t", "s16", "-"]).stdout
    n = len(pcm) // 2
    timit = sphere_header([("database_id", "s", "TIMIT"), ("database_version", "s", "1.0"), ("utterance_id", "s", "gjo0_sa1"),
                           ("channel_count", "i", 1), ("sample_count", "i", n), ("sample_rate", "i", 16000),
                           ("sample_min", "i", -5000), ("sample_max", "i", 5000), ("sample_n_bytes", "i", 2),
                           ("sample_byte_format", "s", "01"), ("sample_sig_bits", "i", 16)]) + pcm
    with open(os.path.join(D, "SA1.WAV"), "wb") as f:
        f.write(timit)
    with open(tmp("sa1.sph"), "wb") as f:  # sox goes by the name: show it a .sph one
        f.write(timit)
    expect_sphere("SA1.WAV", "pcm", 16, like=[tmp("sa1.sph")])

    g = open(os.path.join(D, "sox_s16le_mono.sph"), "rb").read()
    hdr = g[:1024].decode()
    badfile(D, "bad_shorten.sph", sphere_header([("sample_count", "i", 1000), ("channel_count", "i", 1), ("sample_n_bytes", "i", 2),
                                                 ("sample_rate", "i", 16000), ("sample_byte_format", "s", "01"),
                                                 ("sample_coding", "s", "pcm,embedded-shorten-v2.00")]) + b"fkng" + bytes(300),
            "unsupported", "decode it with `sph2pipe -f wav FILE |` in wav.scp")
    badfile(D, "bad_trunc_data.sph", g[:-101], "truncated", "NIST SPHERE header declares 4768 bytes")
    badfile(D, "bad_trailing.sph", g + b"\x00" * 10, "malformed", "10 bytes after the 2384 samples")
    badfile(D, "bad_trunc_header.sph", g[:600], "truncated", "NIST SPHERE header declares 1024 bytes but the file")
    badfile(D, "bad_no_count.sph", hdr.replace("sample_count", "sample_cnt__").encode() + g[1024:], "malformed", "no sample_count field")
    badfile(D, "bad_no_end_head.sph", hdr.replace("end_head", "        ").encode() + g[1024:], "malformed", "no end_head line")
    badfile(D, "bad_byte_format.sph", hdr.replace("-s2 01", "-s2 21").encode() + g[1024:], "unsupported", "sample_byte_format \"21\"")
    badfile(D, "bad_n_bytes.sph", hdr.replace("sample_n_bytes -i 2", "sample_n_bytes -i 3").encode() + g[1024:], "unsupported", "3-byte samples")
    badfile(D, "bad_header_size.sph", g.replace(b"   1024\n", b"   99x4\n", 1), "malformed", "header size \"99x4\" is not a number")
    badfile(D, "bad_zero_channels.sph", hdr.replace("channel_count -i 1", "channel_count -i 0").encode() + g[1024:], "malformed", "zero channels")
    badfile(D, "bad_coding.sph", hdr.replace("-s3 pcm", "-s3 gsm").encode() + g[1024:], "unsupported", "sample_coding \"gsm\"")


def main():
    make_flac()
    make_sphere()
    with open(os.path.join(HERE, "flac_sphere.json"), "w") as f:
        json.dump({"valid": valid, "bad": bad}, f, indent=1)
        f.write("\n")
    print("%d valid, %d malformed files" % (len(valid), len(bad)))


if __name__ == "__main__":
    main()
