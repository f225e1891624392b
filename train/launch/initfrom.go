package launch

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/audio/regular"
	"github.com/nextsample/nextsample/causalconv/modelfile"
	"github.com/nextsample/nextsample/train"
)

// Starting a run from a model file (Request.InitFrom)
//
// A new run normally starts from random weights. With InitFrom it starts
// from a model's: fine-tuning a model on another corpus, or continuing a
// model converted from PyTorch with a new schedule. Only the weights and
// what belongs to them come from the file; the run is new in every other
// way (a fresh optimizer, step 0, the request's options and seed for the
// data order).
//
//   - The architecture is the model's. A .safetensors file records it, so
//     a ConfigFile given must describe the same model (Config.Equal), else
//     the run is refused; a PyTorch state_dict does not, so ConfigFile
//     (or the default model) says what it is, and its names and shapes
//     must fit.
//   - A speaker-conditioned model keeps its speaker table: training files
//     of speakers not in it are refused, validation files of such
//     speakers left out (as for a resumed run). A locally conditioned
//     model keeps its conditioning, the normalisation of its features
//     included, and its feature settings (modelfile.KeyFeatures), or
//     takes the given Features. Condition is refused: the conditioning is
//     the model's.
//   - The audio settings are the model's (modelfile.ModelAudio), with the
//     request's changes over them, except a sample rate other than the
//     model's, which is refused. A state_dict that records no rate is
//     read at the request's rate, else the corpus's, with the reference
//     preprocessing.
//   - Training state in the file (a last or step checkpoint's optimizer
//     buffers) is ignored, and its model tensors are what the run starts
//     from: for a run with --ema, the average.
//   - The file's absolute path and SHA-256 are recorded in every file the
//     run writes (modelfile.KeyInitFrom); a resumed run keeps the record
//     and continues from its own checkpoint, not from the file.

// initModel is what a run started from a model file takes from it.
type initModel struct {
	file *modelfile.File
	// audio are the model's settings (nil: a state_dict without a rate).
	audio *audio.Settings
}

// initFrom loads req.InitFrom into p: its model, and what initModel keeps
// for later.
func (p *Plan) initFrom(req Request) (*initModel, error) {
	path := req.InitFrom
	format, err := modelfile.FormatOf(path)
	if err != nil {
		return nil, &OpError{"init from", err}
	}
	sum, err := fileSHA256(path)
	if err != nil {
		return nil, &OpError{"init from", err}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	p.InitFrom = &modelfile.InitFrom{Path: abs, SHA256: sum}
	im := &initModel{}
	if format == modelfile.FormatTorch {
		cfg, err := loadConfig(req.ConfigFile)
		if err != nil {
			return nil, err
		}
		m, _, err := modelfile.LoadTorch(path, cfg)
		if err != nil {
			return nil, &OpError{"init from", err}
		}
		if err := modelfile.CheckFinite(m); err != nil {
			return nil, &OpError{"init from", fmt.Errorf("%s: %w", path, err)}
		}
		im.file = &modelfile.File{Path: path, Model: m, Metadata: map[string]string{}}
	} else {
		if im.file, err = modelfile.Load(path); err != nil {
			return nil, &OpError{"init from", err}
		}
		if req.ConfigFile != "" {
			cfg, err := loadConfig(req.ConfigFile)
			if err != nil {
				return nil, err
			}
			if !cfg.Equal(im.file.Model.Config) {
				return nil, &OpError{"init from", fmt.Errorf("%s describes a different model than %s, whose architecture the run takes: leave the configuration out", req.ConfigFile, path)}
			}
		}
	}
	// A model without rate metadata (a state_dict) is read at the run's
	// rate; ModelAudio then says so, and gives nothing here.
	if s, _, err := modelfile.ModelAudio(im.file.Metadata, im.file.Model, 0); err == nil {
		im.audio = &s
	}
	p.Model = im.file.Model
	return im, nil
}

// initAudio returns the audio settings of a run started from im: the
// model's with the request's changes, at the model's rate.
func (p *Plan) initAudio(im *initModel, req Request) (audio.Settings, error) {
	if im.audio == nil {
		s := audio.DefaultSettings()
		s.SampleRate = CommonRate(p.Train)
		if req.Audio.SampleRate != nil {
			s.SampleRate = *req.Audio.SampleRate
		}
		s = req.Audio.Apply(modelfile.ReferenceSettings(s.SampleRate, p.Model.Config.QuantizationChannels))
		return s, s.Validate()
	}
	s := *im.audio
	if r := req.Audio.SampleRate; r != nil && *r != s.SampleRate {
		return audio.Settings{}, &train.OptionError{Before: fmt.Sprintf("%s was trained at %d Hz; ", im.file.Path, s.SampleRate), Option: "Audio",
			After: fmt.Sprintf(" ask for %d Hz, and a run started from a model keeps its rate", *r)}
	}
	s = req.Audio.Apply(s)
	s.Quantization = p.Model.Config.QuantizationChannels
	return s, s.Validate()
}

// initCondition takes the speaker table and feature settings of a run
// started from im from the model.
func (p *Plan) initCondition(im *initModel, req Request) error {
	if req.Condition != "" {
		return &train.OptionError{Option: "Condition", After: fmt.Sprintf(" %q: a run started from %s is conditioned as its model is", req.Condition, im.file.Path)}
	}
	var err error
	cfg := p.Model.Config
	if p.Speakers, err = modelfile.Speakers(im.file.Metadata, cfg); err != nil {
		return &OpError{"init from", fmt.Errorf("%s: %w", im.file.Path, err)}
	}
	if p.Features, err = modelfile.Features(im.file.Metadata, cfg); err != nil {
		return &OpError{"init from", fmt.Errorf("%s: %w", im.file.Path, err)}
	}
	if p.Source.Features != "" {
		if cfg.LocalCondition == nil {
			return &train.OptionError{Option: "Features", After: fmt.Sprintf(": %s is not locally conditioned", im.file.Path)}
		}
		if p.Given, err = OpenGivenFeatures(p.Source.Features); err != nil {
			return err
		}
	} else if cfg.LocalCondition != nil && p.Features == nil {
		return &OpError{"init from", fmt.Errorf("%s is locally conditioned but records no feature settings (metadata %q): give its features", im.file.Path, modelfile.KeyFeatures)}
	}
	if err := checkFeatureRate(p.Features, p.Audio); err != nil {
		return &OpError{"init from", fmt.Errorf("%s: %w", im.file.Path, err)}
	}
	return nil
}

// fileSHA256 returns the hex SHA-256 of the file at path.
func fileSHA256(path string) (string, error) {
	f, err := regular.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// initFromMeta returns the KeyInitFrom entry of p.InitFrom.
func (p *Plan) initFromMeta() string {
	b, _ := json.Marshal(p.InitFrom)
	return string(b)
}
