package probe

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nextsample/nextsample/audio"
)

// TestReadManifestKaldiDir: a Kaldi data directory gives rows keyed by
// utterance id, with utt2spk as the speaker and text as the label.
func TestReadManifestKaldiDir(t *testing.T) {
	dir := t.TempDir()
	var scp, u2s, text strings.Builder
	for i := range 4 {
		wav := filepath.Join(dir, fmt.Sprintf("r%d.wav", i))
		if err := audio.WriteFile(wav, make([]float32, 800), 8000, audio.PCM16); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&scp, "u%d %s\n", i, wav)
		fmt.Fprintf(&u2s, "u%d spk%d\n", i, i%2)
		fmt.Fprintf(&text, "u%d digit %d\n", i, i)
	}
	kd := filepath.Join(dir, "train")
	os.MkdirAll(kd, 0o755)
	os.WriteFile(filepath.Join(kd, "wav.scp"), []byte(scp.String()), 0o644)
	os.WriteFile(filepath.Join(kd, "utt2spk"), []byte(u2s.String()), 0o644)
	os.WriteFile(filepath.Join(kd, "text"), []byte(text.String()), 0o644)
	rows, err := ReadManifest(kd, "label", "speaker")
	if err != nil {
		t.Fatal(err)
	}
	want := []ManifestRow{{"u0", "digit 0", "spk0"}, {"u1", "digit 1", "spk1"}, {"u2", "digit 2", "spk0"}, {"u3", "digit 3", "spk1"}}
	if !slices.Equal(rows, want) {
		t.Errorf("rows %v, want %v", rows, want)
	}
	if _, err := ReadManifest(kd, "gender", "speaker"); err == nil || !strings.Contains(err.Error(), "gender") {
		t.Errorf("unknown column: %v", err)
	}
	os.Remove(filepath.Join(kd, "text"))
	if _, err := ReadManifest(kd, "label", "speaker"); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("no text file: %v", err)
	}
}
