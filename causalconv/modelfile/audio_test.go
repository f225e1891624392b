package modelfile

import (
	"errors"
	"strings"
	"testing"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/causalconv"
)

// TestModelAudio: the "audio" entry wins; without it the reference
// preprocessing at the "sample_rate" entry's rate, else the caller's;
// a caller's rate that disagrees with the file's is a typed error, and
// no rate at all has ErrNoSampleRate in its chain.
func TestModelAudio(t *testing.T) {
	m, err := causalconv.New(tiny(2, true, causalconv.InputOneHot, 1))
	if err != nil {
		t.Fatal(err)
	}
	s := ReferenceSettings(16000, 16)
	s.Normalize = audio.NormalizeRMS
	am, err := AudioMeta(s)
	if err != nil {
		t.Fatal(err)
	}
	withAudio := map[string]string{KeyAudio: am, KeySampleRate: "8000"}
	got, assumed, err := ModelAudio(withAudio, m, 0)
	if err != nil || got != s || assumed != nil {
		t.Fatalf("with %q: %+v, %v, %v", KeyAudio, got, assumed, err)
	}
	var conflict *RateConflictError
	if _, _, err := ModelAudio(withAudio, m, 8000); !errors.As(err, &conflict) || conflict.Key != KeyAudio || conflict.Recorded != 16000 || conflict.Given != 8000 {
		t.Errorf("a rate against %q: %v", KeyAudio, err)
	}

	withRate := map[string]string{KeySampleRate: "8000"}
	got, assumed, err = ModelAudio(withRate, m, 0)
	if err != nil || got != ReferenceSettings(8000, 16) || assumed == nil || !assumed.FromMetadata {
		t.Fatalf("with %q: %+v, %+v, %v", KeySampleRate, got, assumed, err)
	}
	if d := assumed.Describe("the flag"); !strings.Contains(d, "assuming the reference preprocessing") || !strings.HasSuffix(d, `at 8000 Hz (from its "sample_rate" metadata)`) {
		t.Errorf("description %q", d)
	}
	if _, _, err := ModelAudio(withRate, m, 16000); !errors.As(err, &conflict) || conflict.Key != KeySampleRate {
		t.Errorf("a rate against %q: %v", KeySampleRate, err)
	}
	for _, bad := range []string{"8k", "0", "-8000", "8000.0", " 8000"} {
		if _, _, err := ModelAudio(map[string]string{KeySampleRate: bad}, m, 0); err == nil || !strings.Contains(err.Error(), "not a positive whole number") {
			t.Errorf("%q: %v", bad, err)
		}
	}

	if _, _, err := ModelAudio(nil, m, 0); !errors.Is(err, ErrNoSampleRate) {
		t.Errorf("no rate anywhere: %v", err)
	}
	got, assumed, err = ModelAudio(nil, m, 22050)
	if err != nil || got.SampleRate != 22050 || assumed == nil || assumed.FromMetadata {
		t.Fatalf("the caller's rate: %+v, %+v, %v", got, assumed, err)
	}
	if d := assumed.Describe("--rate"); !strings.HasSuffix(d, "at 22050 Hz (from --rate)") {
		t.Errorf("description %q", d)
	}

	// The μ-law classes must be the model's.
	s.Quantization = 256
	am, _ = AudioMeta(s)
	if _, err := AudioSettings(map[string]string{KeyAudio: am}, m); err == nil || !strings.Contains(err.Error(), "μ-law classes") {
		t.Errorf("256 classes for a model of 16: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestAudioChangesApply(t *testing.T) {
	s := audio.DefaultSettings()
	if got := (AudioChanges{}).Apply(s); got != s {
		t.Errorf("no changes: %+v, want %+v", got, s)
	}
	got := AudioChanges{SampleRate: ptr(16000), Resample: ptr(true), Channel: ptr(2), Normalize: ptr(audio.NormalizeRMS), TrimDB: ptr(-40.0)}.Apply(s)
	want := s
	want.SampleRate, want.Resample, want.Channel, want.Normalize, want.TrimDB = 16000, true, 2, audio.NormalizeRMS, -40
	if got != want {
		t.Errorf("changes: %+v, want %+v", got, want)
	}
}
