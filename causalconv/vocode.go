package causalconv

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Vocoding: speech from frame features.
//
// A locally conditioned model (Config.LocalCondition) is a vocoder: given
// an utterance's features it generates the speech they describe, one
// sample at a time. Vocode does for many utterances what Continue does
// for many continuations of one prompt: it divides them among Generators
// and runs those on a pool of goroutines. An utterance's samples depend on
// the weights, the prompt, its features, the kernel set, the seed, the
// temperature and the list of utterances (which decides the groups),
// never on the number of goroutines.

// Utterance is one utterance to vocode.
type Utterance struct {
	// Features are the utterance's raw (unnormalised) features, one row
	// per feature channel (Config.LocalCondition.Channels rows), one
	// column per frame, at least one. Vocode only reads them.
	Features Matrix
	// Samples is the utterance's length in samples, the prompt included;
	// 0 means one hop per frame (Features.Cols · Hop).
	Samples int
}

// Vocode generates every utterance of utts from its features with the
// locally conditioned model p. Each starts with prompt, the utterance's
// first samples as μ-law classes (at least one: to start from silence,
// give the silence class alone), and continues to its length: result's
// Classes[s] holds utterance s's Samples − len(prompt) generated classes
// (the prompt not included), sample len(prompt)+i of the utterance at
// index i, drawn with NewSampler(opt.Kernels, Q, opt.Temperature,
// opt.Seed, s). The options are Continue's, except that the utterances
// give the count and the lengths: opt.Count and opt.Samples must be 0,
// and opt.Speakers, for a model also conditioned on speakers, holds
// utterance s's row of the speaker table at index s.
//
// The utterances are grouped as Continue groups continuations, longest
// first (groups of BatchStreams consecutive in that order, then the rest
// one by one), so a group's utterances are of similar lengths; a group
// runs to its longest, and its shorter utterances' extra samples (their
// last frame's column, repeated) are dropped. Progress counts those too.
//
// If ctx is cancelled, Vocode stops within 1,024 samples and returns
// ctx's error.
func Vocode(ctx context.Context, p *Packed, prompt []int32, utts []Utterance, opt ContinueOptions) (*Continuations, error) {
	if p == nil {
		return nil, errors.New("causalconv: nil packed weights")
	}
	lc := p.cfg.LocalCondition
	if lc == nil {
		return nil, errors.New("causalconv: the model is not locally conditioned: it takes no features to vocode")
	}
	if opt.Count != 0 || opt.Samples != 0 {
		return nil, fmt.Errorf("causalconv: Vocode takes the count and lengths from the utterances, not options (Count %d, Samples %d)", opt.Count, opt.Samples)
	}
	if len(utts) == 0 {
		return nil, errors.New("causalconv: no utterances to vocode")
	}
	lengths := make([]int, len(utts))
	chk := newLCWork(lc, 0, 1, false)
	for s, u := range utts {
		if err := chk.set(u.Features, 0); err != nil {
			return nil, &UtteranceError{Index: s, Err: err}
		}
		n := u.Samples
		if n == 0 {
			n = u.Features.Cols * lc.Hop
		}
		if n <= len(prompt) {
			return nil, &UtteranceError{Index: s, Err: fmt.Errorf("causalconv: %d samples, not more than the %d-sample prompt", n, len(prompt))}
		}
		lengths[s] = n - len(prompt)
	}
	opt.Count, opt.Samples = len(utts), 1 // for check; each utterance has its own length
	opt, err := opt.check(p, prompt)
	if err != nil {
		return nil, err
	}
	members := vocodeGroups(lengths, opt.BF16)
	out := make([][]int32, len(utts))
	for _, ms := range members {
		n := lengths[ms[0]] // the longest of the group
		for _, m := range ms {
			out[m] = make([]int32, n)
		}
	}
	setup := func(g *Generator, ms []int) error {
		feats, starts := make([]Matrix, len(ms)), make([]int, len(ms))
		for i, m := range ms {
			feats[i] = utts[m].Features
		}
		return g.SetFeatures(feats, starts)
	}
	groups, err := newStreamGroups(p, prompt, out, members, opt, setup)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	err = runStreamGroups(ctx, groups, opt, start)
	for s := range out {
		out[s] = out[s][:lengths[s]]
	}
	return &Continuations{Classes: out, Elapsed: time.Since(start)}, err
}

// vocodeGroups divides utterances of the given lengths among generators:
// sorted longest first (ties by index), then streamGroups' sizes in that
// order. It depends on the lengths alone, never on the threads.
func vocodeGroups(lengths []int, bf16 bool) [][]int {
	order := seq(0, len(lengths))
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(lengths[b], lengths[a]) })
	var members [][]int
	first := 0
	for _, size := range streamGroups(len(lengths), bf16) {
		members = append(members, order[first:first+size])
		first += size
	}
	return members
}

// UtteranceError is Vocode's error about one utterance (features of other
// dimensions than the model's, a NaN, too few samples), so that a caller
// can name it as its user knows it.
type UtteranceError struct {
	Index int   // into Vocode's utterances
	Err   error // what is wrong with it
}

// Error names the utterance by its index.
func (e *UtteranceError) Error() string { return fmt.Sprintf("utterance %d: %v", e.Index, e.Err) }

// Unwrap returns what is wrong.
func (e *UtteranceError) Unwrap() error { return e.Err }
