package corpus

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextsample/nextsample/audio"
)

func fsddManifest(b *testing.B) string {
	for _, d := range []string{os.Getenv("NEXTSAMPLE_FSDD"), "../../../shared/data/fsdd", "/work/shared/data/fsdd"} {
		if d == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(d, "manifest.csv")); err == nil {
			return filepath.Join(d, "manifest.csv")
		}
	}
	b.Skip("FSDD not found (set NEXTSAMPLE_FSDD to the folder holding manifest.csv): skipping")
	return ""
}

// BenchmarkOpenFSDD indexes the 2,500-file FSDD manifest (headers only).
func BenchmarkOpenFSDD(b *testing.B) {
	m := fsddManifest(b)
	for b.Loop() {
		if _, err := Open(m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadClassesFSDD decodes, normalizes and μ-law encodes all of
// FSDD on all cores: what the trainer does before its first step.
func BenchmarkLoadClassesFSDD(b *testing.B) {
	c, err := Open(fsddManifest(b))
	if err != nil {
		b.Fatal(err)
	}
	var samples int64
	for _, e := range c.Entries {
		samples += e.Info.Frames
	}
	for b.Loop() {
		if _, _, err := LoadClasses(context.Background(), c.Entries, audio.DefaultSettings(), 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(samples), "samples/op")
}

// BenchmarkOpenKaldi300k indexes a synthetic Kaldi data directory the
// size of LibriSpeech-960: 300,000 segments (with utt2spk and text) cut
// out of 3,000 one-second WAV recordings, whose headers are read in
// parallel.
func BenchmarkOpenKaldi300k(b *testing.B) {
	const recordings, perRecording = 3000, 100
	root := b.TempDir()
	dir := filepath.Join(root, "train_960")
	var scp, segs, spk, text strings.Builder
	x := make([]float32, 8000)
	for i := range x {
		x[i] = float32(i%100-50) / 100
	}
	for r := range recordings {
		p := filepath.Join(root, "audio", fmt.Sprintf("spk%03d", r/100), fmt.Sprintf("rec%05d.wav", r))
		if r%100 == 0 {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				b.Fatal(err)
			}
		}
		if err := audio.WriteFile(p, x, 8000, audio.PCM16); err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(&scp, "rec%05d %s\n", r, p)
		for s := range perRecording {
			utt := fmt.Sprintf("rec%05d-%03d", r, s)
			fmt.Fprintf(&segs, "%s rec%05d %.2f %.2f\n", utt, r, float64(s)*0.01, float64(s+1)*0.01)
			fmt.Fprintf(&spk, "%s spk%03d\n", utt, r/100)
			fmt.Fprintf(&text, "%s SOME WORDS OF UTTERANCE %d\n", utt, s)
		}
	}
	for name, s := range map[string]string{WavScp: scp.String(), Segments: segs.String(), Utt2Spk: spk.String(), Text: text.String()} {
		writeText(b, filepath.Join(dir, name), s)
	}
	for b.Loop() {
		c, err := Open(dir)
		if err != nil {
			b.Fatal(err)
		}
		if len(c.Entries) != recordings*perRecording {
			b.Fatalf("%d entries", len(c.Entries))
		}
	}
	b.ReportMetric(recordings*perRecording, "utterances/op")
}
