package audio

import (
	"bytes"
	"os"
	"runtime"
	"testing"
)

// allocated reports the bytes f allocates on the heap.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// allocBound is what decoding an n-byte input may allocate: the output
// (4 bytes of float32 per input byte at most, for 8-bit mono) grown by
// doubling when the size is unknown, plus the read buffer.
func allocBound(n int) uint64 { return uint64(10*n) + 2*readBlock + 16<<10 }

// FuzzDecode feeds arbitrary bytes to the decoder, as a file-like reader
// and as a pipe. Nothing may panic, both paths must agree, and memory
// must stay a small multiple of the input size. Seeds: every golden file,
// valid and malformed.
func FuzzDecode(f *testing.F) {
	ents, err := os.ReadDir("testdata/wav")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(wavPath(e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(0))
	}
	f.Fuzz(func(t *testing.T, b []byte, channel uint8) {
		opts := DecodeOptions{Channel: int(channel % 4)}
		var sized, piped *Clip
		var errSized, errPiped error
		if a := allocated(func() { sized, errSized = Decode(bytes.NewReader(b), "f", opts) }); a > allocBound(len(b)) {
			t.Errorf("%d bytes allocated for a %d-byte input", a, len(b))
		}
		if a := allocated(func() { piped, errPiped = Decode(onlyReader{bytes.NewReader(b)}, "f", opts) }); a > allocBound(len(b)) {
			t.Errorf("pipe: %d bytes allocated for a %d-byte input", a, len(b))
		}
		if (errSized == nil) != (errPiped == nil) {
			t.Fatalf("file: %v, pipe: %v", errSized, errPiped)
		}
		if errSized != nil {
			return
		}
		if sized.Info != piped.Info || !equalSamples(sized.Samples, piped.Samples) {
			t.Fatalf("file and pipe decode differently: %+v vs %+v", sized.Info, piped.Info)
		}
		if int64(len(sized.Samples)) != sized.Info.Frames {
			t.Fatalf("%d samples, info says %d frames", len(sized.Samples), sized.Info.Frames)
		}
		for i, v := range sized.Samples {
			if sized.Info.Format == "pcm" && (v < -1 || v >= 1) {
				t.Fatalf("PCM sample %d = %g outside [-1, 1)", i, v)
			}
		}
	})
}
