package audio

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestFileSummaryText(t *testing.T) {
	clip := &Clip{Name: "a.wav", Info: Info{Container: ContainerWAV, Format: "pcm", Bits: 16, Channels: 1, SampleRate: 8000, Frames: 4},
		Samples: []float32{0.5, -0.5, 0.5, -0.5}}
	var b strings.Builder
	if err := clip.Summary().WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := "File     : a.wav\n" +
		"Format   : 16-bit PCM, 1 channel, 8000 Hz\n" +
		"Length   : 4 frames, 0.001 s\n" +
		"Peak     : 0.500000 (-6.0 dBFS)\n" +
		"RMS      : 0.500000 (-6.0 dBFS)\n" +
		"DC       : 0.000000\n"
	if b.String() != want {
		t.Errorf("text:\n%s\nwant:\n%s", b.String(), want)
	}

	// The header's variants, the encodings' names, streamed lengths and
	// silence.
	for _, tc := range []struct {
		info Info
		want []string
	}{
		{Info{Container: ContainerWAV, Format: "float", Bits: 32, Channels: 2, Extensible: true, Streamed: true},
			[]string{"32-bit IEEE float, WAVE_FORMAT_EXTENSIBLE, 2 channels", "(streamed: the header has a placeholder size, the data runs to the end)"}},
		{Info{Container: ContainerFLAC, Format: "pcm", Bits: 24, Channels: 1, Streamed: true},
			[]string{"24-bit FLAC, 1 channel", "(streamed: STREAMINFO has no sample count, the frames run to the end)"}},
		{Info{Container: ContainerSPHERE, Format: "ulaw", Bits: 8, Channels: 1}, []string{"8-bit μ-law, NIST SPHERE, 1 channel"}},
		{Info{Container: ContainerSPHERE, Format: "alaw", Bits: 8, Channels: 1}, []string{"8-bit A-law, NIST SPHERE"}},
	} {
		b.Reset()
		c := &Clip{Name: "x", Info: tc.info, Samples: []float32{0, 0}}
		if err := c.Summary().WriteText(&b); err != nil {
			t.Fatal(err)
		}
		for _, w := range append(tc.want, "Peak     : 0.000000 (-inf dBFS)\n") {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%+v: text lacks %q:\n%s", tc.info, w, b.String())
			}
		}
	}
}

// The JSON form is a line of `nextsample info --json`: these keys in this
// order, and nothing of Info's beyond them.
func TestFileSummaryJSON(t *testing.T) {
	clip := &Clip{Name: "a.wav", Info: Info{Container: ContainerWAV, Format: "pcm", Bits: 16, Channels: 1, SampleRate: 8000, Frames: 2, Extensible: true, Streamed: true},
		Samples: []float32{0.25, 0.25}}
	b, err := json.Marshal(clip.Summary())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"path":"a.wav","container":"wav","format":"pcm","bits":16,"channels":1,"sample_rate":8000,"frames":2,"duration_s":0.00025,"peak":0.25,"rms":0.25,"dc":0.25}`
	if string(b) != want {
		t.Errorf("JSON %s\nwant %s", b, want)
	}
}

func TestSettingsDescribe(t *testing.T) {
	if got, want := DefaultSettings().Describe(), "8000 Hz, channels averaged, other rates refused, DC removed, peak scaled to 0.95, μ-law with 256 classes"; got != want {
		t.Errorf("DefaultSettings().Describe() = %q, want %q", got, want)
	}
	s := Settings{SampleRate: 16000, Channel: 2, Resample: true, Normalize: NormalizeRMS, RMSLevel: 0.1, PeakLevel: 0.95, TrimDB: -40, Quantization: 1024}
	if got, want := s.Describe(), "16000 Hz, channel 2, other rates resampled, RMS scaled to 0.1 (peak at most 0.95), trimmed below -40 dBFS, μ-law with 1024 classes"; got != want {
		t.Errorf("Describe() = %q, want %q", got, want)
	}
	s = Settings{SampleRate: 8000, Normalize: NormalizeNone, Quantization: 256}
	if got, want := s.Describe(), "8000 Hz, channels averaged, other rates refused, level kept, μ-law with 256 classes"; got != want {
		t.Errorf("Describe() = %q, want %q", got, want)
	}
}
