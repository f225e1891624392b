package audio

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// benchWAV makes an in-memory WAV of about 1 MB.
func benchWAV(channels, bits int) []byte {
	frames := (1 << 20) / (channels * bits / 8)
	data := make([]byte, frames*channels*bits/8)
	for i := range data {
		data[i] = byte(i*7 + i>>9)
	}
	return makeWAV(channels, 8000, bits, data)
}

// BenchmarkDecode measures the decoder's throughput in MB of WAV input
// per second, from memory (no I/O).
func BenchmarkDecode(b *testing.B) {
	for _, c := range []struct {
		name           string
		channels, bits int
	}{{"s16-mono", 1, 16}, {"s16-stereo-mix", 2, 16}, {"u8-mono", 1, 8}, {"s24-mono", 1, 24}, {"s32-mono", 1, 32}} {
		b.Run(c.name, func(b *testing.B) {
			wav := benchWAV(c.channels, c.bits)
			b.SetBytes(int64(len(wav)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decode(bytes.NewReader(wav), "bench", DecodeOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// fsddDir finds the FSDD recordings of ../shared (beside the checkout).
func fsddDir(b *testing.B) string {
	for _, d := range []string{os.Getenv("NEXTSAMPLE_FSDD"), "../../shared/data/fsdd", "/work/shared/data/fsdd"} {
		if d == "" {
			continue
		}
		if fi, err := os.Stat(filepath.Join(d, "recordings")); err == nil && fi.IsDir() {
			return d
		}
	}
	b.Skip("FSDD not found (set NEXTSAMPLE_FSDD to the folder holding recordings/): skipping")
	return ""
}

// BenchmarkReadFSDD decodes every FSDD recording from disk, one after the
// other on one goroutine, so the time per op is the CPU cost of reading
// the whole dataset (open, read, parse, convert to float32). The
// cpu-s/op metric counts user+system CPU time of the process.
func BenchmarkReadFSDD(b *testing.B) {
	files, err := filepath.Glob(filepath.Join(fsddDir(b), "recordings", "*.wav"))
	if err != nil || len(files) == 0 {
		b.Skipf("no FSDD recordings: %v", err)
	}
	var total int64
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			b.Fatal(err)
		}
		total += fi.Size()
	}
	b.SetBytes(total)
	cpu0 := cpuSeconds()
	for b.Loop() {
		for _, f := range files {
			if _, err := ReadFile(f, DecodeOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	if cpu := cpuSeconds(); cpu0 >= 0 && cpu >= 0 {
		b.ReportMetric((cpu-cpu0)/float64(b.N), "cpu-s/op")
	}
	b.ReportMetric(float64(len(files)), "files/op")
}

// BenchmarkDecodeFLAC measures FLAC decoding in samples of output per
// second, from memory: 10 s of speech-like 16 kHz audio encoded by the
// test encoder with fixed predictors (the reference encoder's files decode
// at about the same speed: LPC costs about as much as the Rice codes).
func BenchmarkDecodeFLAC(b *testing.B) {
	s := tStream{rate: 16000, channels: 1, bps: 16, total: -1}
	for i := range 40 {
		s.frames = append(s.frames, tFrame{chMode: -1, samples: [][]int64{tSignal(4096, 16, uint64(i))}, number: -1,
			subs: []tSub{{kind: "fixed", order: 2, porder: 4}}})
	}
	flac := encodeFLAC(s)
	b.SetBytes(40 * 4096)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(bytes.NewReader(flac), "bench.flac", DecodeOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
