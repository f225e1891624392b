package spectrogram

import (
	"bytes"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"gonum.org/v1/plot/vg"
)

func sine(n, rate int, freq, amp float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(amp * math.Sin(2*math.Pi*freq*float64(i)/float64(rate)))
	}
	return x
}

// TestSineLevel: a sine at a bin centre reads its level in dB at that bin
// in every frame that lies wholly inside the signal, and far less two bins
// away (the Hann window's main lobe is two bins wide on each side).
func TestSineLevel(t *testing.T) {
	const rate = 8000
	for _, c := range []struct {
		freq, amp float64
	}{{1000, 1}, {250, 0.1}, {3000, 0.5}} {
		s, err := Compute(sine(4000, rate, c.freq, c.amp), rate, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if s.Window != 256 || s.Hop != 64 || s.Bins != 129 || s.Frames != 63 {
			t.Fatalf("defaults at 8 kHz: window %d hop %d bins %d frames %d", s.Window, s.Hop, s.Bins, s.Frames)
		}
		k := int(math.Round(c.freq / s.Freq(1)))
		want := 20 * math.Log10(c.amp)
		for f := 2; f < s.Frames-2; f++ {
			got := s.DB[f*s.Bins+k]
			if math.Abs(got-want) > 0.05 {
				t.Fatalf("%g Hz at amplitude %g: frame %d bin %d reads %.3f dB, want %.3f", c.freq, c.amp, f, k, got, want)
			}
			for _, far := range []int{k - 3, k + 3} {
				if v := s.DB[f*s.Bins+far]; v > want-60 {
					t.Fatalf("%g Hz: bin %d (%g Hz) reads %.1f dB, want far below %.1f", c.freq, far, s.Freq(far), v, want)
				}
			}
		}
	}
}

// TestTimeAxis: a click is seen in the frames whose windows cover it, and
// the frame times are the window centres.
func TestTimeAxis(t *testing.T) {
	const rate = 16000
	x := make([]float32, 8000)
	x[4000] = 1
	s, err := Compute(x, rate, Options{Window: 512, Hop: 100})
	if err != nil {
		t.Fatal(err)
	}
	loudest, at := math.Inf(-1), -1
	for f := 0; f < s.Frames; f++ {
		if v := s.DB[f*s.Bins+10]; v > loudest {
			loudest, at = v, f
		}
	}
	if at != 40 || s.Time(at) != 0.25 {
		t.Errorf("click at 0.25 s is loudest in frame %d (%.4f s)", at, s.Time(at))
	}
	if v := s.DB[0*s.Bins+10]; v != floorDB {
		t.Errorf("frame 0 is far from the click but reads %v dB", v)
	}
}

func TestSilenceAndErrors(t *testing.T) {
	s, err := Compute(make([]float32, 100), 8000, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range s.DB {
		if v != floorDB {
			t.Fatalf("silence reads %v dB", v)
		}
	}
	var buf bytes.Buffer
	if err := s.WritePNG(&buf, PlotOptions{Marker: 0.005, MarkerLabel: "here"}); err != nil {
		t.Errorf("plotting silence: %v", err)
	}
	for _, bad := range []struct {
		x    []float32
		rate int
		opt  Options
	}{
		{nil, 8000, Options{}},
		{make([]float32, 10), 0, Options{}},
		{make([]float32, 10), 8000, Options{Window: 1}},
		{make([]float32, 10), 8000, Options{Hop: -1}},
	} {
		if _, err := Compute(bad.x, bad.rate, bad.opt); err == nil {
			t.Errorf("Compute(%d samples, %d Hz, %+v) accepted", len(bad.x), bad.rate, bad.opt)
		}
	}
	if _, err := s.Plot(PlotOptions{RangeDB: -3}); err == nil {
		t.Error("a negative range accepted")
	}
}

// TestWriteFile draws a chirp with a marker and checks that the file is a
// PNG of the requested size, written atomically (no temporary file left).
func TestWriteFile(t *testing.T) {
	const rate = 8000
	x := make([]float32, 2*rate)
	for i := range x {
		tt := float64(i) / rate
		x[i] = float32(0.5 * math.Sin(2*math.Pi*(200*tt+800*tt*tt)))
	}
	s, err := Compute(x, rate, Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "chirp.png")
	opt := PlotOptions{Title: "chirp", Marker: 1, MarkerLabel: "continuation", Width: 6 * vg.Inch, Height: 3 * vg.Inch}
	if err := s.WriteFile(path, opt); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 576 || b.Dy() != 288 {
		t.Errorf("image is %d×%d, want 576×288 (6×3 inches at 96 dpi)", b.Dx(), b.Dy())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("%d files in the directory, want only the PNG", len(entries))
	}
	if err := s.WriteFile(filepath.Join(dir, "missing", "x.png"), opt); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
}
