package corpus

import (
	"context"
	"os"
	"path/filepath"
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
