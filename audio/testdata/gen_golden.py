#!/usr/bin/python3
"""Makes the golden WAV files of package audio and their expected values.

Run from anywhere with /usr/bin/python3 (needs sox, ffmpeg and espeak-ng):

    /usr/bin/python3 audio/testdata/gen_golden.py

It writes testdata/wav/*.wav and testdata/golden.json. Valid files are made
by the real tools (sox, ffmpeg, espeak-ng, also through a pipe so that they
leave streaming placeholder sizes); a few are edited byte by byte for the
cases no tool writes on request (data size 0, pad byte plus a trailing LIST
chunk). The expected frames, rate and channels come from `sox --i` and
`sox FILE -n stat`, and peak, RMS and DC from `sox FILE -n [remix -] stat`
(remix - averages the channels, as our decoder does). Malformed files are
byte edits of valid ones, each with the error kind and a phrase the error
message must contain.
"""
import json
import os
import re
import struct
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "wav")


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, **kw)


def sh(cmd):
    return subprocess.run(cmd, shell=True, check=True, capture_output=True)


def path(name):
    return os.path.join(OUT, name)


def sox_stat(p, channels):
    cmd = ["sox", p, "-n"] + (["remix", "-"] if channels > 1 else []) + ["stat"]
    err = run(cmd).stderr.decode()
    val = {}
    for line in err.splitlines():
        m = re.match(r"^(.*?):\s+(-?[0-9.]+)\s*$", line)
        if m:
            val[m.group(1).strip()] = float(m.group(2))
    peak = max(val["Maximum amplitude"], -val["Minimum amplitude"])
    return {"frames": int(val["Samples read"]), "peak": peak, "rms": val["RMS     amplitude"], "dc": val["Mean    amplitude"]}


def sox_info(p):
    out = run(["sox", "--i", p]).stdout.decode()
    ch = int(re.search(r"Channels\s*:\s*(\d+)", out).group(1))
    rate = int(re.search(r"Sample Rate\s*:\s*(\d+)", out).group(1))
    return ch, rate


def expect(name, fmt, bits, extensible=False, streamed=False, like=None):
    """Expected values of a valid file, measured by sox (on `like` when
    sox cannot read the file itself)."""
    p = path(like or name)
    ch, rate = sox_info(p)
    st = sox_stat(p, ch)
    return {"name": name, "format": fmt, "bits": bits, "channels": ch, "sample_rate": rate,
            "extensible": extensible, "streamed": streamed, **st}


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))
    tmp = tempfile.mkdtemp()
    speech = os.path.join(tmp, "speech.wav")   # espeak-ng "seven", 22050 Hz
    run(["espeak-ng", "-w", speech, "seven"])
    src = os.path.join(tmp, "src.wav")         # 0.25 s at 8 kHz, 24-bit
    run(["sox", speech, "-r", "8000", "-b", "24", src, "trim", "0.1", "0.25"])
    src2 = os.path.join(tmp, "src2.wav")       # stereo: speech left, a 300 Hz tone right
    tone = os.path.join(tmp, "tone.wav")
    run(["sox", "-n", "-r", "8000", "-b", "24", "-c", "1", tone, "synth", "0.25", "sine", "300", "gain", "-8"])
    run(["sox", "-M", src, tone, src2])
    src3 = os.path.join(tmp, "src3.wav")
    run(["sox", "-M", src, tone, src, src3, "remix", "1", "2", "3v-0.5"])

    valid = []

    def soxfile(name, args, fmt, bits, extensible=False, source=src, effects=()):
        run(["sox", source] + list(args) + [path(name)] + list(effects))
        valid.append(expect(name, fmt, bits, extensible))

    soxfile("sox_u8.wav", ["-b", "8", "-e", "unsigned"], "pcm", 8)
    soxfile("sox_s16.wav", ["-b", "16"], "pcm", 16)
    soxfile("sox_s24_ext.wav", ["-b", "24"], "pcm", 24, True)
    soxfile("sox_s24_plain.wav", ["-t", "wavpcm", "-b", "24"], "pcm", 24)
    soxfile("sox_s32_ext.wav", ["-b", "32"], "pcm", 32, True)
    soxfile("sox_f32.wav", ["-e", "floating-point", "-b", "32"], "float", 32)
    soxfile("sox_f64.wav", ["-e", "floating-point", "-b", "64"], "float", 64)
    soxfile("sox_s16_stereo.wav", ["-b", "16"], "pcm", 16, source=src2)
    soxfile("sox_s16_3ch_ext.wav", ["-b", "16"], "pcm", 16, True, source=src3)
    soxfile("sox_u8_odd_pad.wav", ["-b", "8", "-e", "unsigned"], "pcm", 8, effects=["trim", "0", "1001s"])

    def ff(name, args, fmt, bits, extensible, source=src):
        run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", source] + args + [path(name)])
        valid.append(expect(name, fmt, bits, extensible))

    ff("ffmpeg_s16_list.wav", ["-c:a", "pcm_s16le"], "pcm", 16, False)
    ff("ffmpeg_u8.wav", ["-c:a", "pcm_u8"], "pcm", 8, False)
    ff("ffmpeg_s24_ext.wav", ["-c:a", "pcm_s24le"], "pcm", 24, True)
    ff("ffmpeg_s32_ext.wav", ["-c:a", "pcm_s32le"], "pcm", 32, True)
    ff("ffmpeg_f32_ext.wav", ["-c:a", "pcm_f32le"], "float", 32, True)
    ff("ffmpeg_f64_ext.wav", ["-c:a", "pcm_f64le"], "float", 64, True)
    ff("ffmpeg_f32_stereo_ext.wav", ["-c:a", "pcm_f32le"], "float", 32, True, source=src2)

    # Streams: what the tools write to a pipe (placeholder sizes).
    # sox knows the length of a file it reads and writes it; from raw
    # samples on a pipe it cannot, and leaves its placeholder.
    sh(f"sox {src} -t raw - | sox -t raw -r 8000 -e signed -b 24 -c 1 - -b 16 -t wav - 2>/dev/null | cat > {path('sox_pipe_s16.wav')}")
    valid.append(expect("sox_pipe_s16.wav", "pcm", 16, streamed=True, like="sox_s16.wav"))
    sh(f"ffmpeg -hide_banner -loglevel error -i {src} -c:a pcm_s16le -f wav - | cat > {path('ffmpeg_pipe_s16.wav')}")
    valid.append(expect("ffmpeg_pipe_s16.wav", "pcm", 16, streamed=True, like="ffmpeg_s16_list.wav"))
    sh(f"espeak-ng --stdout 'one' | cat > {path('espeak_pipe.wav')}")
    espeak_file = os.path.join(tmp, "espeak_file.wav")
    sh(f"espeak-ng --stdout 'one' > {espeak_file}")  # same bytes, but sox needs real sizes to measure
    with open(espeak_file, "rb") as f:
        b = bytearray(f.read())
    struct.pack_into("<I", b, 4, len(b) - 8)
    struct.pack_into("<I", b, 40, len(b) - 44)
    fixed = path("espeak_fixed.wav")
    with open(fixed, "wb") as f:
        f.write(b)
    valid.append(expect("espeak_pipe.wav", "pcm", 16, streamed=True, like="espeak_fixed.wav"))
    os.remove(fixed)
    run(["espeak-ng", "-w", path("espeak_file.wav"), "two"])
    valid.append(expect("espeak_file.wav", "pcm", 16))

    # Byte edits for what no tool writes on request.
    s16 = open(path("sox_s16.wav"), "rb").read()
    assert s16[36:40] == b"data"
    b = bytearray(s16)
    struct.pack_into("<I", b, 4, 0)
    struct.pack_into("<I", b, 40, 0)
    open(path("edit_size0.wav"), "wb").write(b)
    valid.append(expect("edit_size0.wav", "pcm", 16, streamed=True, like="sox_s16.wav"))
    odd = open(path("sox_u8_odd_pad.wav"), "rb").read()
    assert len(odd) % 2 == 0 and struct.unpack_from("<I", odd, 40)[0] % 2 == 1
    info = b"INFOISFT" + struct.pack("<I", 5) + b"test\x00\x00"
    trailer = b"LIST" + struct.pack("<I", len(info)) + info
    b = bytearray(odd + trailer)
    struct.pack_into("<I", b, 4, len(b) - 8)
    open(path("edit_u8_odd_pad_list.wav"), "wb").write(b)
    valid.append(expect("edit_u8_odd_pad_list.wav", "pcm", 8, like="sox_u8_odd_pad.wav"))

    # Malformed and unsupported files.
    bad = []

    def badfile(name, data, kind, phrase, info_ok=False):
        open(path(name), "wb").write(bytes(data))
        bad.append({"name": name, "kind": kind, "phrase": phrase, "info_ok": info_ok})

    def fmt_chunk(tag, ch, rate, bits, align=None):
        align = ch * bits // 8 if align is None else align
        return b"fmt " + struct.pack("<IHHIIHH", 16, tag, ch, rate, rate * align, align, bits)

    def riff(*chunks):
        body = b"WAVE" + b"".join(chunks)
        return b"RIFF" + struct.pack("<I", len(body)) + body

    pcm = s16[44:44 + 200]
    data = b"data" + struct.pack("<I", len(pcm)) + pcm
    badfile("bad_empty.wav", b"", "malformed", "empty file")
    badfile("bad_text.wav", b"this is not a wav file at all\n", "malformed", "not a WAV, FLAC or NIST SPHERE file")
    badfile("bad_short.wav", s16[:10], "malformed", "too short")
    badfile("bad_trunc_header.wav", s16[:30], "truncated", "fmt chunk declares 16 bytes")
    badfile("bad_trunc_data.wav", s16[:44 + 501], "truncated", "data chunk declares 4000 bytes")
    badfile("bad_trunc_midframe_stream.wav", open(path("sox_pipe_s16.wav"), "rb").read()[:44 + 301],
            "truncated", "inside a 2-byte frame")
    badfile("bad_huge_data_44.wav", riff(fmt_chunk(1, 1, 8000, 16), b"data" + struct.pack("<I", 0x7FFFFFF0)),
            "truncated", "data chunk declares 2147483632 bytes")
    badfile("bad_chunk_size.wav", riff(fmt_chunk(1, 1, 8000, 16), b"LIST" + struct.pack("<I", 0x10000000) + b"INFO", data),
            "truncated", "\"LIST\" chunk")
    badfile("bad_no_fmt.wav", riff(data), "malformed", "data chunk before the fmt chunk")
    badfile("bad_only_list.wav", riff(b"LIST" + struct.pack("<I", 4) + b"INFO"), "malformed", "no fmt chunk")
    badfile("bad_no_data.wav", riff(fmt_chunk(1, 1, 8000, 16), b"LIST" + struct.pack("<I", 4) + b"INFO"),
            "malformed", "no data chunk")
    badfile("bad_zero_channels.wav", riff(fmt_chunk(1, 0, 8000, 16, align=2), data), "malformed", "zero channels")
    badfile("bad_zero_rate.wav", riff(fmt_chunk(1, 1, 0, 16), data), "malformed", "sample rate 0")
    badfile("bad_block_align.wav", riff(fmt_chunk(1, 2, 8000, 16, align=2), data), "malformed", "block align 2")
    badfile("bad_bits12.wav", riff(fmt_chunk(1, 1, 8000, 12, align=2), data), "unsupported", "12-bit PCM")
    badfile("bad_float16.wav", riff(fmt_chunk(3, 1, 8000, 16), data), "unsupported", "16-bit float")
    badfile("bad_fmt_short.wav", riff(b"fmt " + struct.pack("<I", 14) + fmt_chunk(1, 1, 8000, 16)[8:22], data),
            "malformed", "fmt chunk of 14 bytes")
    badfile("bad_odd_data.wav", riff(fmt_chunk(1, 1, 8000, 16), b"data" + struct.pack("<I", 199) + pcm[:199] + b"\x00"),
            "malformed", "not a whole number of 2-byte frames")
    badfile("bad_rifx.wav", b"RIFX" + s16[4:], "unsupported", "RIFX")
    nan = struct.pack("<f", 0.5) * 10 + struct.pack("<f", float("nan")) + struct.pack("<f", 0.25) * 5
    badfile("bad_float_nan.wav", riff(fmt_chunk(3, 1, 8000, 32), b"data" + struct.pack("<I", len(nan)) + nan),
            "malformed", "frame 10 is NaN", info_ok=True)

    def ext_fmt(subtag, bits=16, guid_tail=b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"):
        body = struct.pack("<HHIIHHHHI", 0xFFFE, 1, 8000, 8000 * bits // 8, bits // 8, bits, 22, bits, 4)
        body += struct.pack("<H", subtag) + guid_tail
        return b"fmt " + struct.pack("<I", len(body)) + body

    badfile("bad_ext_alaw.wav", riff(ext_fmt(6, bits=8), b"data" + struct.pack("<I", 10) + b"\x55" * 10),
            "unsupported", "A-law")
    badfile("bad_ext_guid.wav", riff(ext_fmt(1, guid_tail=b"\x01" * 14), data), "unsupported", "sub-format GUID")
    badfile("bad_ext_short.wav", riff(b"fmt " + struct.pack("<I", 18) + fmt_chunk(0xFFFE, 1, 8000, 16)[8:] + b"\x00\x00", data),
            "malformed", "shorter than the 40")
    for name, enc, phrase in [("bad_alaw.wav", "a-law", "A-law"), ("bad_ulaw.wav", "u-law", "μ-law"),
                              ("bad_ms_adpcm.wav", "ms-adpcm", "Microsoft ADPCM"),
                              ("bad_ima_adpcm.wav", "ima-adpcm", "IMA ADPCM")]:
        run(["sox", src, "-e", enc, path(name), "trim", "0", "400s"])
        bad.append({"name": name, "kind": "unsupported", "phrase": phrase, "info_ok": False})

    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    with open(os.path.join(HERE, "golden.json"), "w") as f:
        json.dump({"generated_by": "gen_golden.py", "valid": valid, "bad": bad}, f, indent=1)
        f.write("\n")
    print(f"{len(valid)} valid, {len(bad)} bad files, {total} bytes")


if __name__ == "__main__":
    main()
