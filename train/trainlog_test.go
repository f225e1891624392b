package train

import (
	"bytes"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextsample/nextsample/audio/atomicfile"
)

func TestLogRoundTrip(t *testing.T) {
	nan := math.NaN()
	rows := []LogRow{
		{Step: 0, Seconds: 1.5, TrainBits: nan, ValBits: 8.01, LR: nan, GradNorm: nan, SamplesPerSecond: nan, ValRawBits: 8.02},
		{Step: 1, Seconds: 2.25, TrainBits: 7.9, ValBits: nan, LR: 1e-3, GradNorm: 3.5, SamplesPerSecond: 12345, ValRawBits: nan},
	}
	path := filepath.Join(t.TempDir(), "train_log.csv")
	if err := atomicfile.Write(path, func(w io.Writer) error { return writeLog(w, rows) }); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	want := "step,seconds,train_bits,val_bits,lr,grad_norm,samples_per_s,val_raw_bits\n0,1.500,,8.01,,,,8.02\n1,2.250,7.9,,0.001,3.5,12345,\n"
	if string(data) != want {
		t.Fatalf("log file:\n%s\nwant:\n%s", data, want)
	}
	got, err := readLog(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].LR != 1e-3 || got[1].SamplesPerSecond != 12345 || !math.IsNaN(got[1].ValBits) || got[0].ValBits != 8.01 || !math.IsNaN(got[0].TrainBits) ||
		got[0].ValRawBits != 8.02 || !math.IsNaN(got[1].ValRawBits) {
		t.Fatalf("read back %+v", got)
	}
	// A log of an older version, without the last column, is read too.
	os.WriteFile(path, []byte("step,seconds,train_bits,val_bits,lr,grad_norm,samples_per_s\n0,1.500,,8.01,,,\n"), 0o644)
	if old, err := readLog(path); err != nil || len(old) != 1 || old[0].ValBits != 8.01 || !math.IsNaN(old[0].ValRawBits) {
		t.Fatalf("an older log read back as %+v, %v", old, err)
	}
	os.WriteFile(path, []byte("a,b\n1,2\n"), 0o644)
	if _, err := readLog(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("a foreign CSV gave %v", err)
	}
}

func TestPlotIsAPNG(t *testing.T) {
	var rows []LogRow
	for s := int64(0); s <= 50; s++ {
		r := LogRow{Step: s, TrainBits: 8 - float64(s)/20, ValBits: math.NaN()}
		if s%10 == 0 {
			r.ValBits = 8.1 - float64(s)/25
			r.ValRawBits = r.ValBits + 0.05 // a run with an average
		} else {
			r.ValRawBits = math.NaN()
		}
		rows = append(rows, r)
	}
	var buf bytes.Buffer
	if err := writePlot(&buf, rows, Baselines{Uniform: 8, Unigram: 7.2}, "test"); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() < 400 || b.Dy() < 200 {
		t.Fatalf("plot is %v", b)
	}
}
