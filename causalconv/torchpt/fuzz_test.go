package torchpt_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/nextsample/nextsample/causalconv/torchpt"
)

// FuzzRead feeds Read arbitrary archives, starting from the real torch.save
// files in testdata (and the inputs kept in testdata/fuzz/FuzzRead). It
// must never panic, and whatever it accepts must load within the input's
// own size: no field of the file may drive a larger allocation.
func FuzzRead(f *testing.F) {
	paths, _ := filepath.Glob("testdata/*.pt")
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil && len(b) < 200_000 {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pf, err := torchpt.Read(bytes.NewReader(data), int64(len(data)), "fuzz.pt")
		if err != nil {
			return
		}
		for i := range pf.Tensors {
			tn := &pf.Tensors[i]
			if n := tn.NumElements() * tn.DType.Size(); n > len(data) {
				t.Fatalf("tensor %q claims %d bytes from a %d-byte file", tn.Name, n, len(data))
			}
			if _, err := pf.Load(tn); err != nil {
				t.Fatalf("accepted tensor %q does not load: %v", tn.Name, err)
			}
		}
	})
}
