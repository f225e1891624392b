package launch

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/audio/corpus"
	"github.com/nextsample/nextsample/audio/kaldifeat"
	"github.com/nextsample/nextsample/causalconv"
	"github.com/nextsample/nextsample/causalconv/kernels"
	"github.com/nextsample/nextsample/causalconv/modelfile"
	"github.com/nextsample/nextsample/train"
)

// Plan is a run decided but not started: what Prepare chose. Open then
// prepares its classes and Start creates it.
type Plan struct {
	// Model is the network: the checkpoint's for a resumed run, random
	// weights (seeded by Options.Seed) for a new one.
	Model *causalconv.Model
	// Options are the run's options, Threads resolved.
	Options train.Options
	// Audio is the preprocessing of the run's files.
	Audio audio.Settings
	// Source is where the audio comes from, as given (Start records it
	// with absolute paths).
	Source Source
	// Checkpoint is the resumed run's checkpoint (nil: a new run).
	Checkpoint *train.Checkpoint

	// Corpus is the training corpus; Train and Valid are the entries
	// trained and validated on (Valid may be empty).
	Corpus       *corpus.Corpus
	Train, Valid []corpus.Entry
	// ValidName says what Valid is: a split's name, a corpus and split,
	// or how it was held out of the training files ("": none).
	ValidName string
	// Bound, if set, is how Source.ValSamples bounded Valid.
	Bound *Bound

	// Speakers is the speaker table of a speaker-conditioned model (nil:
	// not conditioned), and LeftOut the validation files it left out.
	Speakers []string
	LeftOut  LeftOut

	// Features are the settings of a locally conditioned model's
	// features (nil: not locally conditioned, or given features of
	// unrecorded settings), and Given the features read rather than
	// computed (nil: computed as Features says).
	Features *kaldifeat.Config
	Given    *GivenFeatures

	// InitFrom is the model file a new run starts from
	// (Request.InitFrom), or that a resumed run was started from; nil:
	// random weights.
	InitFrom *modelfile.InitFrom
	init     *initModel // a new run's InitFrom, loaded

	// Machine is the CPU the run trains on (kernels.DetectMachine); Notes
	// uses it to say when the precision asked for is a slow one here.
	Machine kernels.Machine

	out                  string
	comm                 Processes
	trainRows, validRows []int
}

// Prepare decides the run a request asks for: the model, options, corpus
// and splits, audio settings and speakers. It reads the checkpoint,
// configuration and corpus listing, but no audio, and writes nothing.
func Prepare(req Request) (*Plan, error) {
	p := &Plan{out: req.Out, comm: req.Comm}
	var err error
	if req.Resume && req.InitFrom != "" {
		return nil, &train.OptionError{Option: "InitFrom", After: " starts a new run; a resumed run continues from its own checkpoint"}
	}
	if req.Resume {
		err = p.resume(req)
	} else {
		err = p.start(req)
	}
	if err != nil {
		return nil, err
	}
	// Before the corpus is loaded: a precision this CPU cannot run. One
	// it runs slowly is run all the same, with a note (Notes).
	if err := causalconv.CheckPrecision(p.Options.Precision, kernels.Best()); err != nil {
		return nil, err
	}
	p.Machine = kernels.DetectMachine()
	if err := p.mergeSource(req); err != nil {
		return nil, err
	}
	s, err := openSplits(p.Source)
	if err != nil {
		return nil, err
	}
	p.Corpus, p.Train, p.Valid, p.ValidName = s.corp, s.train, s.valid, s.validName
	if p.init != nil {
		if p.Audio, err = p.initAudio(p.init, req); err != nil {
			return nil, err
		}
	} else if p.Checkpoint == nil {
		p.Audio = audio.DefaultSettings()
		p.Audio.SampleRate = CommonRate(p.Train)
		p.Audio = req.Audio.Apply(p.Audio)
		p.Audio.Quantization = p.Model.Config.QuantizationChannels
		if err := p.Audio.Validate(); err != nil {
			return nil, err
		}
	}
	p.Bound = s.bound(p.Source.ValSamples, p.Audio.SampleRate)
	p.Valid = s.valid
	if err := p.condition(req); err != nil {
		return nil, err
	}
	return p, nil
}

// start decides a new run: its architecture, options and initial weights
// (random, or InitFrom's).
func (p *Plan) start(req Request) error {
	optimizer := ""
	set(&optimizer, req.Options.Optimizer)
	p.Options = req.Options.Apply(train.DefaultOptions(optimizer), req.Threads)
	if req.Options.Chunk == nil {
		p.Options.Chunk = train.ChunkFor(kernels.DetectMachine(), p.Options.Crop)
	}
	if err := p.Options.Validate(); err != nil {
		return err
	}
	var err error
	if req.InitFrom != "" {
		p.init, err = p.initFrom(req)
		return err
	}
	cfg, err := loadConfig(req.ConfigFile)
	if err != nil {
		return err
	}
	p.Model, err = causalconv.NewRandom(cfg, p.Options.Seed)
	return err
}

// resume reads the run in Out: its checkpoint, preprocessing, source and
// options, with the request's changes.
func (p *Plan) resume(req Request) error {
	ck, err := train.ReadCheckpoint(filepath.Join(req.Out, train.LastFile))
	if errors.Is(err, train.ErrNoCheckpoint) {
		return &OpError{"resume", fmt.Errorf("%s holds no %s to resume from", req.Out, train.LastFile)}
	}
	if err != nil {
		return &OpError{"resume", err}
	}
	p.Checkpoint, p.Model = ck, ck.Model
	if req.ConfigFile != "" {
		cfg, err := loadConfig(req.ConfigFile)
		if err != nil {
			return err
		}
		if !cfg.Equal(p.Model.Config) {
			return &OpError{"resume", fmt.Errorf("%s describes a different model than the run in %s", req.ConfigFile, req.Out)}
		}
	}
	if p.Audio, err = modelfile.AudioSettings(ck.Metadata, p.Model); err != nil {
		return &OpError{"resume", fmt.Errorf("%s: %w", ck.Path, err)}
	}
	if err := checkAudio(req.Audio, p.Audio); err != nil {
		return &OpError{"resume", err}
	}
	_ = json.Unmarshal([]byte(ck.Metadata[MetaSource]), &p.Source)
	if p.InitFrom, err = modelfile.ReadInitFrom(ck.Metadata); err != nil {
		return &OpError{"resume", fmt.Errorf("%s: %w", ck.Path, err)}
	}
	p.Options = req.Options.Apply(ck.Options, req.Threads)
	return nil
}

// loadConfig returns the architecture of a configuration file (the base
// model of a reference config.json, or a bare model object), or the
// default for "".
func loadConfig(path string) (causalconv.Config, error) {
	if path == "" {
		return causalconv.DefaultConfig(), nil
	}
	f, err := causalconv.LoadConfig(path)
	if err != nil {
		return causalconv.Config{}, err
	}
	return f.Model, nil
}

// mergeSource sets the Source fields the request gives, or a new run's
// defaults, over those a resumed run stored.
func (p *Plan) mergeSource(req Request) error {
	src, resumed := &p.Source, p.Checkpoint != nil
	if req.Data != nil || src.Data == "" {
		src.Data = ""
		set(&src.Data, req.Data)
		if src.Data == "" {
			if req.DefaultData == nil {
				return &train.OptionError{Before: "no corpus: give ", Option: "Data"}
			}
			d, err := req.DefaultData()
			if err != nil {
				return err
			}
			src.Data = d
		}
	}
	if req.ValSplit != nil || !resumed {
		src.ValSplit = ""
		set(&src.ValSplit, req.ValSplit)
	}
	if req.ValData != nil || !resumed {
		src.ValData = ""
		set(&src.ValData, req.ValData)
		if abs, err := filepath.Abs(src.ValData); err == nil && src.ValData != "" {
			src.ValData = abs
		}
	}
	if req.Features != nil || !resumed {
		src.Features = ""
		set(&src.Features, req.Features)
		if abs, err := filepath.Abs(src.Features); err == nil && src.Features != "" {
			src.Features = abs
		}
	}
	if req.ValSamples != nil || !resumed {
		src.ValSamples = 0
		set(&src.ValSamples, req.ValSamples)
		if src.ValSamples < 0 {
			return &train.OptionError{Option: "ValSamples", After: fmt.Sprintf(" %d: want 0 (all) or a positive count", src.ValSamples)}
		}
	}
	return nil
}

// condition sets the conditioning: a resumed run's own speaker table and
// feature settings, or for a new run the request's, with a model that has
// the speaker embedding and the local conditioning they need. Then it
// finds each file's row in the speaker table.
func (p *Plan) condition(req Request) error {
	var err error
	if p.Checkpoint != nil {
		if err := p.resumeCondition(); err != nil {
			return err
		}
	} else if p.init != nil {
		if err := p.initCondition(p.init, req); err != nil {
			return err
		}
	} else if err := p.newCondition(req); err != nil {
		return err
	}
	if p.Speakers == nil {
		return nil
	}
	p.trainRows, p.validRows, p.LeftOut, err = speakerRows(p.Speakers, p.Train, &p.Valid)
	return err
}

// resumeCondition reads a resumed run's speaker table and feature
// settings from its checkpoint.
func (p *Plan) resumeCondition() error {
	var err error
	ck := p.Checkpoint
	if p.Speakers, err = modelfile.Speakers(ck.Metadata, p.Model.Config); err != nil {
		return &OpError{"resume", fmt.Errorf("%s: %w", ck.Path, err)}
	}
	if p.Features, err = modelfile.Features(ck.Metadata, p.Model.Config); err != nil {
		return &OpError{"resume", fmt.Errorf("%s: %w", ck.Path, err)}
	}
	if p.Model.Config.LocalCondition != nil && p.Features == nil && p.Source.Features == "" {
		return &OpError{"resume", fmt.Errorf("%s is locally conditioned but records no feature settings (metadata %q) nor given features", ck.Path, modelfile.KeyFeatures)}
	}
	if p.Source.Features != "" {
		if p.Model.Config.LocalCondition == nil {
			return &train.OptionError{Option: "Features", After: ": the run's model is not locally conditioned"}
		}
		if p.Given, err = OpenGivenFeatures(p.Source.Features); err != nil {
			return err
		}
	}
	if err := checkFeatureRate(p.Features, p.Audio); err != nil {
		return &OpError{"resume", fmt.Errorf("%s: %w", ck.Path, err)}
	}
	return nil
}

// newCondition conditions a new run as req.Condition asks.
func (p *Plan) newCondition(req Request) error {
	speaker, fbank := false, false
	if req.Condition != "" {
		for _, c := range strings.Split(req.Condition, ",") {
			switch strings.TrimSpace(c) {
			case "speaker":
				speaker = true
			case "fbank":
				fbank = true
			default:
				return &train.OptionError{Option: "Condition", After: fmt.Sprintf(" %q: the conditions are \"speaker\", \"fbank\" or both (\"fbank,speaker\")", req.Condition)}
			}
		}
	}
	if p.Source.Features != "" && fbank {
		return &train.OptionError{Option: "Features", After: ` are given: condition on them or on computed fbank features ("fbank"), not both`}
	}
	given := p.Source.Features != ""
	if !speaker && !fbank && !given {
		return nil
	}
	cfg := p.Model.Config
	var err error
	if speaker {
		if p.Speakers, err = SpeakerTable(p.Train); err != nil {
			return &OpError{"condition speaker", err}
		}
		cfg.GlobalCondition = &causalconv.GlobalCondition{Channels: req.GCChannels, Cardinality: len(p.Speakers)}
	}
	if fbank {
		fc, err := req.Fbank.Config(p.Audio.SampleRate)
		if err != nil {
			return err
		}
		if cfg.LocalCondition, err = LocalCondition(fc); err != nil {
			return &OpError{"condition fbank", err}
		}
		p.Features = &fc
	}
	if given {
		if cfg.LocalCondition, err = p.givenCondition(req); err != nil {
			return err
		}
	}
	if p.Model, err = causalconv.NewRandom(cfg, p.Options.Seed); err != nil {
		return &OpError{"condition " + req.Condition, err}
	}
	return nil
}

// givenCondition opens a new run's given features and returns the local
// conditioning of a model on them: their dims and framing, conv_in over
// LCContext frames, upsampling stages that factor the hop. No feature
// settings are recorded (modelfile.KeyFeatures): even a folder of Kaldi
// fbank was computed from audio prepared otherwise than the run's, so
// features computed later would not be the same; the run's Source
// records where its features are instead.
func (p *Plan) givenCondition(req Request) (*causalconv.LocalCondition, error) {
	g, err := OpenGivenFeatures(p.Source.Features)
	if err != nil {
		return nil, err
	}
	fc, err := req.Fbank.Config(p.Audio.SampleRate)
	if err != nil {
		return nil, err
	}
	window, hop, snip, err := g.Framing(p.Audio.SampleRate, fc)
	if err != nil {
		return nil, err
	}
	dims, err := g.Dims(p.Train)
	if err != nil {
		return nil, err
	}
	scales, err := UpsampleScales(hop)
	if err != nil {
		return nil, &OpError{"features", err}
	}
	p.Given = g
	return &causalconv.LocalCondition{Channels: dims, Hop: hop, Window: window, SnipEdges: snip, Context: LCContext, UpsampleScales: scales}, nil
}

// Metadata returns what the run's files record beside the model: the
// audio settings (modelfile.KeyAudio), the Source with absolute paths
// (MetaSource), the speaker table (modelfile.KeySpeakers), the feature
// settings (modelfile.KeyFeatures) and the model file the run started
// from (modelfile.KeyInitFrom).
func (p *Plan) Metadata() (map[string]string, error) {
	audioMeta, err := modelfile.AudioMeta(p.Audio)
	if err != nil {
		return nil, err
	}
	src := p.Source
	if abs, err := filepath.Abs(src.Data); err == nil {
		src.Data = abs
	}
	srcMeta, _ := json.Marshal(src)
	meta := map[string]string{modelfile.KeyAudio: audioMeta, MetaSource: string(srcMeta)}
	if p.Speakers != nil {
		b, _ := json.Marshal(p.Speakers)
		meta[modelfile.KeySpeakers] = string(b)
	}
	if p.Features != nil {
		if meta[modelfile.KeyFeatures], err = modelfile.FeaturesMeta(*p.Features); err != nil {
			return nil, err
		}
	}
	if p.InitFrom != nil {
		meta[modelfile.KeyInitFrom] = p.initFromMeta()
	}
	return meta, nil
}
