package causalconv

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/nextsample/nextsample/causalconv/kernels"
)

func TestStreamGroups(t *testing.T) {
	for count, want := range map[int]string{1: "[1]", 3: "[1 1 1]", 8: "[8]", 11: "[8 1 1 1]", 16: "[8 8]"} {
		if got := fmt.Sprint(streamGroups(count, false)); got != want {
			t.Errorf("streamGroups(%d) = %s, want %s", count, got, want)
		}
	}
	if got := fmt.Sprint(streamGroups(9, true)); got != "[1 1 1 1 1 1 1 1 1]" {
		t.Errorf("bfloat16: streamGroups(9) = %s, want nine singles", got)
	}
}

// continueFixture is a small model and a prompt for Continue.
func continueFixture(t *testing.T) (*Packed, []int32) {
	t.Helper()
	c := tiny(2, true, InputOneHot, 1)
	c.Dilations = []int{1, 2, 4, 8, 1, 2}
	rng := rand.New(rand.NewPCG(4, 4))
	return randomModel(t, c, 17).Packed(), randomClasses(rng, 30, c.QuantizationChannels)
}

// TestContinueIsGenerators: Continue draws what a Generator warmed with
// the prompt and stepped with NewSampler(k, Q, T, seed, s) draws; its
// continuations do not depend on Threads; continuation 0 of fewer than
// BatchStreams is the lone continuation; and Progress ends at the total.
func TestContinueIsGenerators(t *testing.T) {
	p, prompt := continueFixture(t)
	k := kernels.Best()
	const n, temp, seed = 700, 0.9, 6
	opt := ContinueOptions{Samples: n, Temperature: temp, Seed: seed, Threads: 1, Kernels: k}
	one, err := Continue(context.Background(), p, prompt, opt)
	if err != nil {
		t.Fatal(err)
	}
	g, err := NewGenerator(p, k, 1, GeneratorOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Warm(prompt[:len(prompt)-1]); err != nil {
		t.Fatal(err)
	}
	smp, _ := NewSampler(k, p.Config().QuantizationChannels, temp, seed, 0)
	want := [][]int32{make([]int32, n)}
	if err := g.Generate(context.Background(), prompt[len(prompt)-1:], []*Sampler{smp}, want, nil); err != nil {
		t.Fatal(err)
	}
	if len(one.Classes) != 1 || !slices.Equal(one.Classes[0], want[0]) {
		t.Fatal("Continue's continuation differs from the generator's")
	}

	opt.Count = 11
	var last ContinueProgress
	calls := 0
	for _, threads := range []int{1, 3, 8} {
		opt.Threads = threads
		opt.Progress = func(pr ContinueProgress) {
			if pr.Done < last.Done {
				t.Errorf("progress went back from %d to %d", last.Done, pr.Done)
			}
			last = pr
			calls++
		}
		last = ContinueProgress{}
		many, err := Continue(context.Background(), p, prompt, opt)
		if err != nil {
			t.Fatal(err)
		}
		if last.Done != 11*n || last.Total != 11*n {
			t.Errorf("threads %d: the last progress is %+v, want %d of %d", threads, last, 11*n, 11*n)
		}
		if got, want := many.SamplesPerSecond(), float64(11*n)/many.Elapsed.Seconds(); got != want || last.SamplesPerSecond() <= 0 {
			t.Errorf("threads %d: %v samples/s, want %v; progress at %v", threads, got, want, last.SamplesPerSecond())
		}
		if threads == 1 {
			want = many.Classes
			continue
		}
		for s := range want {
			if !slices.Equal(many.Classes[s], want[s]) {
				t.Errorf("continuation %d differs between 1 and %d threads", s, threads)
			}
		}
	}
	if slices.Equal(want[0], want[1]) {
		t.Error("continuations 0 and 1 are the same")
	}
	opt.Count, opt.Progress = 3, nil
	few, err := Continue(context.Background(), p, prompt, opt)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(few.Classes[0], one.Classes[0]) {
		t.Error("continuation 0 of 3 differs from the lone continuation")
	}
}

// TestContinueRefuses: bad options are errors, and a cancelled context
// stops Continue with its error.
func TestContinueRefuses(t *testing.T) {
	p, prompt := continueFixture(t)
	for _, c := range []struct {
		prompt []int32
		opt    ContinueOptions
		want   string
	}{
		{nil, ContinueOptions{Samples: 10}, "empty prompt"},
		{prompt, ContinueOptions{}, "at least 1"},
		{prompt, ContinueOptions{Samples: 10, Count: -1}, "at least 1"},
		{prompt, ContinueOptions{Samples: 10, Count: 2, Speakers: []int{0}}, "1 speakers for 2"},
		{prompt, ContinueOptions{Samples: 10, Threads: -2}, "threads"},
		{prompt, ContinueOptions{Samples: 10, Temperature: -1}, "temperature"},
		{prompt, ContinueOptions{Samples: 10, Speakers: []int{0}}, "not conditioned"},
		{[]int32{1, 9999}, ContinueOptions{Samples: 10}, "class 9999"},
	} {
		if _, err := Continue(context.Background(), p, c.prompt, c.opt); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one with %q", c.opt, err, c.want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Continue(ctx, p, prompt, ContinueOptions{Samples: 5000, Count: 9}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
