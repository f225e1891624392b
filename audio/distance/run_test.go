package distance

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copyFile copies src to dir/name, creating dir.
func copyFile(t *testing.T, src, dir, name string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

const george = "../../samples/fsdd/recordings/0_george_0.wav"

func TestRunFiles(t *testing.T) {
	rep, err := Run(context.Background(), Request{Ref: george, Deg: "testdata/mulaw_8k.wav", MaxFrameDiff: DefaultMaxFrameDiff})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Pairs) != 1 || rep.Pairs[0].Key != "0_george_0" || rep.Options.Alpha != 0.31 {
		t.Fatalf("report %+v", rep)
	}
	if p := rep.Pairs[0]; rep.MCD != p.MCD || rep.LSD != p.LSD || rep.Frames != 55 || !(p.MCD > 2 && p.MCD < 2.3) {
		t.Errorf("report %+v", rep)
	}
}

func TestRunCorpora(t *testing.T) {
	dir := t.TempDir()
	ref, deg := filepath.Join(dir, "ref"), filepath.Join(dir, "deg")
	copyFile(t, george, ref, "a.wav")
	copyFile(t, "testdata/lowpass_8k.wav", ref, "b.wav")
	copyFile(t, "testdata/mulaw_8k.wav", deg, "a.wav")
	copyFile(t, "testdata/lowpass_8k.wav", deg, "b.wav")
	for _, threads := range []int{1, 2} {
		rep, err := Run(context.Background(), Request{Ref: ref, Deg: deg, Threads: threads, MaxFrameDiff: DefaultMaxFrameDiff})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Pairs) != 2 || rep.Pairs[0].Key != "a" || rep.Pairs[1].Key != "b" || rep.Pairs[1].MCD != 0 || rep.Pairs[0].MCD == 0 {
			t.Fatalf("threads %d: %+v", threads, rep.Pairs)
		}
		if rep.MCD != rep.Pairs[0].MCD/2 {
			t.Errorf("mean MCD %g, want %g", rep.MCD, rep.Pairs[0].MCD/2)
		}
	}

	copyFile(t, george, deg, "c.wav")
	_, err := Run(context.Background(), Request{Ref: ref, Deg: deg})
	var ue *UnpairedError
	if !errors.As(err, &ue) || len(ue.DegOnly) != 1 || ue.DegOnly[0] != "c" || strings.Contains(err.Error(), "\n") {
		t.Fatalf("extra degraded key: %v", err)
	}
	rep, err := Run(context.Background(), Request{Ref: ref, Deg: deg, AllowUnpaired: true, MaxFrameDiff: 5})
	if err != nil || len(rep.Pairs) != 2 || len(rep.DegOnly) != 1 {
		t.Fatalf("allowed unpaired: %v %+v", err, rep)
	}

	if _, err := Run(context.Background(), Request{Ref: ref, Deg: george}); err == nil || !strings.Contains(err.Error(), "two files or two corpora") {
		t.Errorf("corpus vs file: %v", err)
	}
}

func TestRunRefusals(t *testing.T) {
	var re *RateError
	if _, err := Run(context.Background(), Request{Ref: george, Deg: "testdata/ref_16k.wav"}); !errors.As(err, &re) || re.Rate != 16000 || re.Want != 8000 {
		t.Errorf("8 vs 16 kHz: %v", err)
	}
	dir := t.TempDir()
	long := filepath.Join(dir, "long.wav")
	// The 16 kHz file read as if it were 8 kHz is twice as long: refused.
	b, _ := os.ReadFile("testdata/ref_16k.wav")
	b[24], b[25], b[26], b[27] = 0x40, 0x1f, 0, 0 // sample rate 8000
	b[28], b[29], b[30], b[31] = 0x80, 0x3e, 0, 0 // byte rate 16000
	if err := os.WriteFile(long, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var fe *FrameCountError
	if _, err := Run(context.Background(), Request{Ref: george, Deg: long, MaxFrameDiff: 5}); !errors.As(err, &fe) {
		t.Errorf("twice as long: %v", err)
	}
}
