package audio

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/nextsample/nextsample/audio/atomicfile"
)

// Encoding is the sample format WriteWAV stores.
type Encoding int

const (
	// PCM16 is 16-bit signed PCM, what every player reads. Samples are
	// rounded to the nearest multiple of 1/32768 and clipped to [-1, 1).
	PCM16 Encoding = iota
	// Float32 is 32-bit IEEE float, lossless for float32 samples.
	Float32
)

// ParseEncoding reads the command-line names "pcm16" and "float32".
func ParseEncoding(s string) (Encoding, error) {
	switch s {
	case "pcm16", "":
		return PCM16, nil
	case "float32":
		return Float32, nil
	}
	return 0, fmt.Errorf("unknown WAV encoding %q (want pcm16 or float32)", s)
}

func (e Encoding) String() string {
	switch e {
	case PCM16:
		return "pcm16"
	case Float32:
		return "float32"
	}
	return fmt.Sprintf("Encoding(%d)", int(e))
}

// WriteWAV writes mono samples as a WAV file. All sizes are known up
// front and written in the header, so w may be a pipe (standard output).
// Non-finite samples are refused before anything is written.
func WriteWAV(w io.Writer, samples []float32, rate int, enc Encoding) error {
	if rate <= 0 || rate > math.MaxInt32 {
		return fmt.Errorf("WAV: invalid sample rate %d", rate)
	}
	if i := firstNonFinite(samples); i >= 0 {
		return fmt.Errorf("WAV: sample %d is %v", i, samples[i])
	}
	var tag, bits, fmtSize, extra int
	switch enc {
	case PCM16:
		tag, bits, fmtSize = tagPCM, 16, 16
	case Float32:
		// Non-PCM formats carry a cbSize field and a fact chunk (frames).
		tag, bits, fmtSize, extra = tagFloat, 32, 18, 12
	default:
		return fmt.Errorf("WAV: unknown encoding %v", enc)
	}
	dataBytes := int64(len(samples)) * int64(bits/8)
	riffSize := 4 + (8 + int64(fmtSize)) + int64(extra) + 8 + dataBytes
	if riffSize > math.MaxUint32 {
		return fmt.Errorf("WAV: %d samples do not fit a WAV file (4 GiB)", len(samples))
	}
	bw := bufio.NewWriterSize(w, readBlock)
	hdr := make([]byte, 0, 64)
	hdr = append(hdr, "RIFF"...)
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(riffSize))
	hdr = append(hdr, "WAVEfmt "...)
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(fmtSize))
	hdr = binary.LittleEndian.AppendUint16(hdr, uint16(tag))
	hdr = binary.LittleEndian.AppendUint16(hdr, 1) // channels
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(rate))
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(rate*bits/8))
	hdr = binary.LittleEndian.AppendUint16(hdr, uint16(bits/8))
	hdr = binary.LittleEndian.AppendUint16(hdr, uint16(bits))
	if enc == Float32 {
		hdr = binary.LittleEndian.AppendUint16(hdr, 0) // cbSize
		hdr = append(hdr, "fact"...)
		hdr = binary.LittleEndian.AppendUint32(hdr, 4)
		hdr = binary.LittleEndian.AppendUint32(hdr, uint32(len(samples)))
	}
	hdr = append(hdr, "data"...)
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(dataBytes))
	if _, err := bw.Write(hdr); err != nil {
		return err
	}
	var b [4]byte
	for _, v := range samples {
		switch enc {
		case PCM16:
			binary.LittleEndian.PutUint16(b[:], uint16(pcm16(v)))
			if _, err := bw.Write(b[:2]); err != nil {
				return err
			}
		case Float32:
			binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
			if _, err := bw.Write(b[:4]); err != nil {
				return err
			}
		}
	}
	return bw.Flush()
}

// pcm16 rounds a sample to 16 bits, the inverse of the decoder's scaling
// for every value the decoder produces from 16-bit data.
func pcm16(v float32) int16 {
	s := math.Round(float64(v) * 32768)
	return int16(max(-32768, min(32767, s)))
}

// WriteFile writes mono samples as a WAV file at path, atomically (see
// package atomicfile); "-" writes to standard output.
func WriteFile(path string, samples []float32, rate int, enc Encoding) error {
	if path == "-" {
		return WriteWAV(os.Stdout, samples, rate, enc)
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		return WriteWAV(w, samples, rate, enc)
	})
}
