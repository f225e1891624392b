package launch

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/nextsample/nextsample/audio/humanize"
	"github.com/nextsample/nextsample/causalconv"
)

// The text forms of a run's plan and data: what nextsample train prints
// before it trains, and what nextsample eval prints of what it scored.

// WriteText writes what Prepare decided, before any audio is read: its
// notes (Notes, each on a line starting "note: "), the model and the
// corpus. Options are named as name says (see OptionName).
//
//	model: 20 layers, receptive field 5116 samples (639.5 ms at 8000 Hz), 415136 parameters, 0.83 MFLOP per trained sample
//	data: /home/u/nextsample/samples/fsdd/manifest.csv (60 files)
func (p *Plan) WriteText(w io.Writer, name OptionName) error {
	var b strings.Builder
	for _, n := range p.Notes(name) {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	cfg, rate := p.Model.Config, p.Audio.SampleRate
	rf := cfg.ReceptiveField()
	fmt.Fprintf(&b, "model: %d layers, receptive field %d samples (%.1f ms at %d Hz), %d parameters, %.2f MFLOP per trained sample\n",
		cfg.Layers(), rf, 1000*float64(rf)/float64(rate), rate, p.Model.NumParams(), float64(cfg.FLOPs().Train())/1e6)
	if p.InitFrom != nil {
		fmt.Fprintf(&b, "initial weights: %s (sha256 %.12s…)\n", p.InitFrom.Path, p.InitFrom.SHA256)
	}
	fmt.Fprintf(&b, "data: %s (%d files)\n", p.Corpus.Source, len(p.Corpus.Entries))
	_, err := io.WriteString(w, b.String())
	return err
}

// Notes are what the user of a plan should know that is no reason to
// refuse it, one line each (without the "note: " WriteText puts before
// them): validation files left out for their speakers, and precision bf16
// on a machine where it trains slower than fp32 (Machine.BF16Faster:
// there VDPBF16PS runs at half the fp32 FMA rate). Options are named as
// name says (see OptionName).
func (p *Plan) Notes(name OptionName) []string {
	var notes []string
	if l := p.LeftOut; l.Files > 0 {
		notes = append(notes, fmt.Sprintf("validation leaves out %d of its %d files, of speakers not in the training set (%s)", l.Files, l.Of, humanize.FirstFew(l.Speakers, 3)))
	}
	if m := p.Machine; p.Options.Precision == causalconv.PrecisionBF16 && !m.BF16Faster() {
		notes = append(notes, fmt.Sprintf("on this CPU (%s family %d model %d) bf16 dot products run at half the fp32 rate: %s bf16 trains slower than fp32 here",
			m.Vendor, m.Family, m.Model, optionName(name, "Precision")))
	}
	return notes
}

// optionName is name(option), or option for a nil name.
func optionName(name OptionName, option string) string {
	if name == nil {
		return option
	}
	return name(option)
}

// WriteData writes the classes Open prepared for the plan (the training
// and validation files, their length and audio settings, and the time
// they took), then the speakers of a speaker-conditioned run and the
// processes of a data-parallel one. Options are named as name says (see
// OptionName). The classes' lines are indented by two spaces, under the
// cache reports:
//
//	train: 48 files, 20.4 s, 163272 samples
//	validation (test): 12 files, 5.2 s, 41608 samples
//	audio: {"sample_rate":8000,...} (ready in 0.1s)
func (p *Plan) WriteData(w io.Writer, d *Data, name OptionName) error {
	var b strings.Builder
	length := func(n int64) string { return humanize.AudioLength(n, p.Audio.SampleRate) }
	tc := d.TrainCache
	fmt.Fprintf(&b, "  train: %d files, %s, %d samples", tc.Files(), length(tc.Samples()), tc.Samples())
	if n := tc.Resampled(); n > 0 {
		fmt.Fprintf(&b, " (%d resampled)", n)
	}
	fmt.Fprintln(&b)
	if vc := d.ValidCache; vc != nil {
		fmt.Fprintf(&b, "  validation (%s): %d files, %s, %d samples\n", describeValidation(p.ValidName, p.Bound, name), vc.Files(), length(vc.Samples()), vc.Samples())
	} else {
		fmt.Fprintf(&b, "  validation: none (the corpus has no validation split)\n")
	}
	a, _ := json.Marshal(p.Audio)
	fmt.Fprintf(&b, "  audio: %s (ready in %.1fs)\n", a, d.Took.Seconds())
	if p.Speakers != nil {
		fmt.Fprintf(&b, "conditioned on %d speakers (%s), %d channels\n", len(p.Speakers), humanize.FirstFew(p.Speakers, 5), p.Model.Config.GlobalCondition.Channels)
	}
	if c := p.comm; c != nil {
		o := p.Options
		fmt.Fprintf(&b, "processes: %d (MPI), each %d threads and %d of the %d files of a batch\n", c.Size(), o.Threads, o.Batch/max(1, c.Size()), o.Batch)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// OptionName returns the name under which a program's users know an
// option: a CLI's flag for a field of Request, say. The text forms of
// this package's reports name options through it, as a *train.OptionError
// does; nil leaves the Go name.
type OptionName func(option string) string

// describeValidation says what a validation set is (see
// Plan.ValidName), and how a Source's ValSamples bounded it.
func describeValidation(what string, b *Bound, name OptionName) string {
	if b == nil {
		return what
	}
	return fmt.Sprintf("%s; %d of its %d files, chosen by key hash for %s %d", what, b.Kept, b.Of, optionName(name, "ValSamples"), b.Limit)
}
