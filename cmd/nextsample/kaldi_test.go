package main

import (
	"fmt"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/audio/featio"
)

// TestKaldiDirMatchesCutFiles: eval and features of a Kaldi data directory
// whose wav.scp mixes a WAV path, a pipe and (where the flac tool is
// installed) a FLAC file and a NIST SPHERE file made by sox, with segments, give the numbers of a manifest of
// the same utterances cut into separate WAV files.
func TestKaldiDirMatchesCutFiles(t *testing.T) {
	dir := t.TempDir()
	fsdd, _ := filepath.Abs("../../samples/fsdd/recordings")
	// Three recordings, each three FSDD files end to end.
	names := [][]string{
		{"0_george_0", "1_jackson_0", "2_theo_0"},
		{"3_nicolas_0", "4_theo_0", "5_yweweler_0"},
		{"6_george_1", "7_jackson_1", "8_nicolas_1"},
		{"9_theo_1", "0_yweweler_1", "1_george_1"},
	}
	type seg struct {
		utt, rec   string
		start, end float64
	}
	var segs []seg
	var scp strings.Builder
	cut := filepath.Join(dir, "cut")
	os.MkdirAll(cut, 0o755)
	var manifest strings.Builder
	manifest.WriteString("path,split\n")
	hasFlac := exec.Command("flac", "--version").Run() == nil
	hasSox := exec.Command("sox", "--version").Run() == nil
	for r, files := range names {
		var rec []float32
		for _, n := range files {
			clip, err := audio.ReadFile(filepath.Join(fsdd, n+".wav"), audio.DecodeOptions{})
			if err != nil {
				t.Fatalf("bundled samples: %v", err)
			}
			rec = append(rec, clip.Samples...)
		}
		recID := fmt.Sprintf("rec%d", r)
		wav := filepath.Join(dir, recID+".wav")
		if err := audio.WriteFile(wav, rec, 8000, audio.PCM16); err != nil {
			t.Fatal(err)
		}
		// The samples as stored (16-bit), for the cuts.
		clip, _ := audio.ReadFile(wav, audio.DecodeOptions{})
		rec = clip.Samples
		switch {
		case r == 1:
			fmt.Fprintf(&scp, "%s cat %s |\n", recID, wav)
		case r == 2 && hasFlac:
			fl := filepath.Join(dir, recID+".flac")
			if out, err := exec.Command("flac", "-s", "-f", "-o", fl, wav).CombinedOutput(); err != nil {
				t.Fatalf("flac: %v %s", err, out)
			}
			fmt.Fprintf(&scp, "%s %s\n", recID, fl)
		case r == 3 && hasSox:
			sph := filepath.Join(dir, recID+".sph")
			if out, err := exec.Command("sox", wav, sph).CombinedOutput(); err != nil {
				t.Fatalf("sox: %v %s", err, out)
			}
			fmt.Fprintf(&scp, "%s %s\n", recID, sph)
		default:
			fmt.Fprintf(&scp, "%s %s\n", recID, wav)
		}
		n := float64(len(rec)) / 8000
		for i, b := range [][2]float64{{0.05, n / 3}, {n / 3, 2 * n / 3}, {0.5 * n, n - 0.01}} {
			s := seg{fmt.Sprintf("%s_u%d", recID, i), recID, math.Round(b[0]*100) / 100, math.Round(b[1]*100) / 100}
			segs = append(segs, s)
			a, e := int(s.start*8000), int(s.end*8000)
			p := filepath.Join(cut, s.utt+".wav")
			if err := audio.WriteFile(p, rec[a:e], 8000, audio.Float32); err != nil {
				t.Fatal(err)
			}
			manifest.WriteString("cut/" + s.utt + ".wav,test\n")
		}
	}
	kd := filepath.Join(dir, "data", "test")
	os.MkdirAll(kd, 0o755)
	os.WriteFile(filepath.Join(kd, "wav.scp"), []byte(scp.String()), 0o644)
	var sb strings.Builder
	for _, s := range segs {
		fmt.Fprintf(&sb, "%s %s %.2f %.2f\n", s.utt, s.rec, s.start, s.end)
	}
	os.WriteFile(filepath.Join(kd, "segments"), []byte(sb.String()), 0o644)
	man := filepath.Join(dir, "manifest.csv")
	os.WriteFile(man, []byte(manifest.String()), 0o644)

	model := newGenFixture(t).model
	a, _ := evalBits(t, "--model", model, "--data", kd)
	b, _ := evalBits(t, "--model", model, "--data", man)
	if a.Samples != b.Samples || a.Files != b.Files || math.Abs(a.BitsPerSample-b.BitsPerSample) > 1e-6 {
		t.Errorf("Kaldi dir: %+v; cut files: %+v", a, b)
	}

	feats := func(data, out string) map[string]featio.Matrix {
		code, _, stderr := runCLI("", "features", "--kind", "fbank", "--data", data, "--out", out)
		if code != 0 {
			t.Fatalf("features %s: %s", data, stderr)
		}
		raw, err := os.ReadFile(filepath.Join(out, "feats.ark"))
		if err != nil {
			t.Fatal(err)
		}
		es, err := featio.ReadArk("feats.ark", raw)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]featio.Matrix{}
		for _, e := range es {
			m[strings.TrimPrefix(e.Key, "cut/")] = e.Matrix
		}
		return m
	}
	fa, fb := feats(kd, filepath.Join(dir, "fa")), feats(man, filepath.Join(dir, "fb"))
	ka, kb := slices.Sorted(maps.Keys(fa)), slices.Sorted(maps.Keys(fb))
	if !slices.Equal(ka, kb) {
		t.Fatalf("feature keys %v and %v", ka, kb)
	}
	for k, ma := range fa {
		mb := fb[k]
		if ma.Rows != mb.Rows || ma.Cols != mb.Cols {
			t.Errorf("%s: %dx%d vs %dx%d", k, ma.Rows, ma.Cols, mb.Rows, mb.Cols)
			continue
		}
		for i := range ma.Data {
			if math.Abs(float64(ma.Data[i]-mb.Data[i])) > 1e-5 {
				t.Errorf("%s: element %d: %g vs %g", k, i, ma.Data[i], mb.Data[i])
				break
			}
		}
	}
}
