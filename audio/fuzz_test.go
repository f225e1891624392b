package audio

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
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

// decodeStats decodes b as Decode does, from a file-like reader or a
// pipe, and also returns, for FLAC, what the decoder allocated for frames
// and how many frames it decoded, which bound what it may allocate.
func decodeStats(b []byte, pipe bool, opts DecodeOptions) (*Clip, flacResult, error) {
	var r io.Reader = bytes.NewReader(b)
	if pipe {
		r = onlyReader{r}
	}
	if !bytes.HasPrefix(b, []byte("fLaC")) && !bytes.HasPrefix(b, []byte("ID3")) {
		clip, err := Decode(r, "f", opts)
		return clip, flacResult{}, err
	}
	wr := newWavReader(r, "f", inputSize(r))
	return decodeFLAC(wr, opts)
}

// fuzzAudio is the body of FuzzDecodeFLAC and FuzzDecodeSphere: arbitrary
// bytes through a file-like reader, a pipe and ReadInfo of a real file.
// Nothing may panic; the file and the pipe must agree; a file that
// decodes must have the Info ReadInfo gives; and memory must stay within
// a small multiple of the input plus, for FLAC, the frame buffers
// STREAMINFO allows (what decodeStats reports) and the frames decoded.
func fuzzAudio(t *testing.T, dir string, b []byte, channel uint8) {
	start := time.Now()
	defer func() {
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%d-byte input took %v", len(b), d)
		}
	}()
	opts := DecodeOptions{Channel: int(channel % 4)}
	bound := func(res flacResult) uint64 {
		return allocBound(len(b)) + uint64(16*len(b)) + 2*uint64(res.alloc) + 12*uint64(res.frames) + 300<<10
	}
	var sized, piped *Clip
	var errSized, errPiped error
	var res flacResult
	if a := allocated(func() { sized, res, errSized = decodeStats(b, false, opts) }); a > bound(res) {
		t.Errorf("%d bytes allocated for a %d-byte input (frame buffers %d, %d frames)", a, len(b), res.alloc, res.frames)
	}
	if a := allocated(func() { piped, res, errPiped = decodeStats(b, true, opts) }); a > bound(res) {
		t.Errorf("pipe: %d bytes allocated for a %d-byte input (frame buffers %d, %d frames)", a, len(b), res.alloc, res.frames)
	}
	if (errSized == nil) != (errPiped == nil) {
		t.Fatalf("file: %v, pipe: %v", errSized, errPiped)
	}
	for _, err := range []error{errSized, errPiped} {
		var fe *FormatError
		if err != nil && !errors.As(err, &fe) && !strings.Contains(err.Error(), "channel") {
			t.Errorf("error %q is not a FormatError", err)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("error %q spans lines", err)
		}
	}
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var info Info
	var errInfo error
	if a := allocated(func() { info, errInfo = ReadInfo(p) }); a > allocBound(len(b))+uint64(4*len(b))+3*8*flacMaxBlock*flacMaxChannels+1<<20 {
		t.Errorf("ReadInfo: %d bytes allocated for a %d-byte input", a, len(b))
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
	if errInfo != nil || info != sized.Info {
		t.Fatalf("ReadInfo %+v, %v; Decode %+v", info, errInfo, sized.Info)
	}
	for i, v := range sized.Samples {
		if sized.Info.Format != "float" && (v < -1 || v >= 1) {
			t.Fatalf("sample %d = %g outside [-1, 1)", i, v)
		}
	}
}

// FuzzDecodeFLAC: seeds are the golden FLAC files, valid and malformed,
// and the test encoder's streams that use every coding.
func FuzzDecodeFLAC(f *testing.F) {
	ents, err := os.ReadDir("testdata/flac")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("testdata", "flac", e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		if len(b) <= 64<<10 {
			f.Add(b, uint8(0))
		}
	}
	for _, name := range []string{"mono_16bit", "mono_24bit", "stereo_modes_16bit", "stereo_modes_32bit", "rate_11025", "channels_5",
		"escape_zero_bits", "no_total_no_md5", "mono_4bit"} {
		f.Add(encodeFLAC(encoderCases()[name]), uint8(1))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte, channel uint8) { fuzzAudio(t, dir, b, channel) })
}

// FuzzDecodeSphere: seeds are the golden SPHERE files, valid and
// malformed, and hand-made headers.
func FuzzDecodeSphere(f *testing.F) {
	ents, err := os.ReadDir("testdata/sphere")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("testdata", "sphere", e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(0))
	}
	f.Add(makeSphere(sphereFields(3, 2, 2, "", "10"), make([]byte, 12)), uint8(2))
	f.Add(makeSphere(sphereFields(4, 1, 1, "alaw", "1"), []byte{1, 2, 3, 4}), uint8(0))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte, channel uint8) { fuzzAudio(t, dir, b, channel) })
}
