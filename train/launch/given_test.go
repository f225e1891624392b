package launch

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextsample/nextsample/audio/corpus"
	"github.com/nextsample/nextsample/audio/featio"
)

// Given features may be up to FrameSlack frames short of what their audio
// needs (1000 samples, 80-sample hop, 200-sample window, snip edges: 11
// frames), not more; they are read back channel by channel.
func TestGivenFeaturesFrameSlack(t *testing.T) {
	dir := t.TempDir()
	var ark bytes.Buffer
	var scp strings.Builder
	arkPath := filepath.Join(dir, "feats.ark")
	for _, rows := range []int{8, 9, 11, 14} {
		key := fmt.Sprintf("u%d", rows)
		m := featio.NewMatrix(rows, 2)
		for i := range m.Data {
			m.Data[i] = float32(i)
		}
		off := int64(ark.Len()) + int64(len(key)) + 1
		if _, err := featio.WriteArkEntry(&ark, key, m); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&scp, "%s %s:%d\n", key, arkPath, off)
	}
	spec := filepath.Join(dir, "feats.scp")
	if err := os.WriteFile(arkPath, ark.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(spec, []byte(scp.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	g, err := OpenGivenFeatures(spec)
	if err != nil {
		t.Fatal(err)
	}
	lens := func(int) int { return 1000 }
	for rows, ok := range map[int]bool{8: false, 9: true, 11: true, 14: true} {
		e := []corpus.Entry{{Key: fmt.Sprintf("u%d", rows)}}
		s, err := g.source(e, lens, 2, 200, 80, true)
		if (err == nil) != ok {
			t.Errorf("%d frames: %v", rows, err)
		}
		if err != nil {
			if !strings.Contains(err.Error(), "which need 11") {
				t.Errorf("%d frames: %v", rows, err)
			}
			continue
		}
		dst := make([]float32, 2*rows)
		if err := s.ReadFeatures(0, dst); err != nil {
			t.Fatal(err)
		}
		if dst[0] != 0 || dst[1] != 2 || dst[rows] != 1 { // channel 0 of frames 0, 1; channel 1 of frame 0
			t.Errorf("%d frames read as %v", rows, dst)
		}
	}
}
