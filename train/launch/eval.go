package launch

import (
	"context"
	"fmt"
	"io"
	"math"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/audio/corpus"
	"github.com/nextsample/nextsample/audio/kaldifeat"
	"github.com/nextsample/nextsample/causalconv"
	"github.com/nextsample/nextsample/causalconv/modelfile"
	"github.com/nextsample/nextsample/train"
)

// EvalRequest is a model to score and the files to score it on.
type EvalRequest struct {
	// Model is the network; Metadata its file's metadata, where
	// MetaSource names its training corpus; Path the file (for messages).
	Model    *causalconv.Model
	Metadata map[string]string
	Path     string
	// Audio is the preprocessing the model expects.
	Audio audio.Settings
	// Data is the corpus to score (nil: the model's training corpus,
	// whose validation files are scored unless Split is given).
	Data *string
	// Split, if set, scores only that split of the corpus.
	Split string
	// Threads is the number of worker threads (0: all cores).
	Threads int
	// Cache says where the classes are prepared.
	Cache CacheOptions
	// Speakers, for a speaker-conditioned model, returns the row of the
	// model's speaker table each file is scored as (nil: unconditioned).
	// It is called once the classes are ready.
	Speakers func(files []corpus.Entry) ([]int, error)
	// Features, if set, are a locally conditioned model's features of
	// the files (a Kaldi scp file or a features folder, see
	// GivenFeatures); else those its run was given (the Source's), else
	// they are computed as the model's metadata says
	// (modelfile.KeyFeatures).
	Features string
}

// EvalReport is what Evaluate scored and the result.
type EvalReport struct {
	train.EvalResult
	// Model is the model file scored (EvalRequest.Path), and Uniform the
	// bits per sample of a uniform guess over its classes.
	Model   string
	Uniform float64
	// Corpus is the corpus scored (its Source).
	Corpus string
	// Split is the split scored ("": all files, or the validation files
	// when Validation is set).
	Split string
	// Validation, if set, says which validation files of the model's
	// training corpus were scored (see Plan.ValidName), and Bound how
	// its ValSamples bounded them.
	Validation string
	Bound      *Bound
}

// Scope says what was scored: the corpus, then all its files, a split,
// or the validation files of the model's run (options named as name
// says, see OptionName).
func (r *EvalReport) Scope(name OptionName) string {
	what := "all files"
	switch {
	case r.Split != "":
		what = "split " + r.Split
	case r.Validation != "":
		what = "validation: " + describeValidation(r.Validation, r.Bound, name)
	}
	return r.Corpus + ", " + what
}

// WriteText writes the result as one line, beside the uniform baseline:
//
//	runs/fsdd/best.safetensors on samples/fsdd/manifest.csv, split test: 5.7421 bits/sample (3.9802 nats) over 41596 samples in 12 files [uniform 8.000 bits]
func (r *EvalReport) WriteText(w io.Writer, name OptionName) error {
	_, err := fmt.Fprintf(w, "%s on %s: %.4f bits/sample (%.4f nats) over %d samples in %d files [uniform %.3f bits]\n",
		r.Model, r.Scope(name), r.BitsPerSample(), r.NatsPerSample(), r.Samples, r.Files, r.Uniform)
	return err
}

// A NoValidationError is a model's training corpus without validation
// files, when Evaluate was asked to score them.
type NoValidationError struct {
	Corpus string
}

func (e *NoValidationError) Error() string { return e.Corpus + " has no validation files" }

// Evaluate scores a model as EvalRequest says: every sample of every file
// after the first, predicted from the ones before it (see
// train.EvaluateDataset). Given no corpus it scores the files the model's
// run validated on: the run's Source, bounded by its ValSamples.
func Evaluate(ctx context.Context, req EvalRequest) (*EvalReport, error) {
	files, rep, err := evalFiles(req)
	if err != nil {
		return nil, err
	}
	spec, cfg, err := evalFeatures(req)
	if err != nil {
		return nil, err
	}
	o, err := req.Cache.cacheDir()
	if err != nil {
		return nil, err
	}
	var cache *corpus.ClassCache
	var fc *corpus.FeatureCache
	if cfg != nil {
		cache, fc, err = openBoth(ctx, "evaluation", files, req.Audio, *cfg, o)
	} else {
		cache, err = openCache(ctx, "evaluation", files, req.Audio, o)
	}
	if err != nil {
		return nil, err
	}
	defer cache.Close()
	if fc != nil {
		defer fc.Close()
	}
	var ds train.Dataset = cache
	if req.Speakers != nil {
		rows, err := req.Speakers(files)
		if err != nil {
			return nil, err
		}
		if rows != nil {
			ds = train.WithSpeakers(cache, rows)
		}
	}
	switch {
	case fc != nil:
		ds = train.WithFeatures(ds, fc)
	case spec != "":
		if ds, err = givenEvalFeatures(req, spec, files, cache, ds); err != nil {
			return nil, err
		}
	}
	if rep.EvalResult, err = train.EvaluateDataset(ctx, req.Model, ds, req.Threads); err != nil {
		return nil, err
	}
	return rep, nil
}

// evalFeatures says where a locally conditioned model's features come
// from: spec, features given (EvalRequest.Features, else those its run
// was given), or cfg, the settings to compute them with (the model's
// modelfile.KeyFeatures). Both are empty for other models.
func evalFeatures(req EvalRequest) (spec string, cfg *kaldifeat.Config, err error) {
	if req.Model.Config.LocalCondition == nil {
		if req.Features != "" {
			return "", nil, &train.OptionError{Option: "Features", After: fmt.Sprintf(" given, but %s is not locally conditioned", req.Path)}
		}
		return "", nil, nil
	}
	spec = req.Features
	if src, ok := SourceOf(req.Metadata); ok && spec == "" && src.Features != "" {
		spec = src.Features // the features the model's run was given
	}
	if spec != "" {
		return spec, nil, nil
	}
	if cfg, err = modelfile.Features(req.Metadata, req.Model.Config); err != nil {
		return "", nil, fmt.Errorf("%s: %w", req.Path, err)
	}
	if cfg == nil {
		return "", nil, &train.OptionError{Before: fmt.Sprintf("%s is locally conditioned but records no feature settings (metadata %q) to compute its features with: give ", req.Path, modelfile.KeyFeatures), Option: "Features"}
	}
	if err := checkFeatureRate(cfg, req.Audio); err != nil {
		return "", nil, fmt.Errorf("%s: %w", req.Path, err)
	}
	return "", cfg, nil
}

// givenEvalFeatures gives the files of ds the features of spec, checked
// against the model and the files' lengths.
func givenEvalFeatures(req EvalRequest, spec string, files []corpus.Entry, cache *corpus.ClassCache, ds train.Dataset) (train.Dataset, error) {
	lc := req.Model.Config.LocalCondition
	g, err := OpenGivenFeatures(spec)
	if err != nil {
		return nil, err
	}
	src, err := g.source(files, cache.Len, lc.Channels, lc.Window, lc.Hop, lc.SnipEdges)
	if err != nil {
		return nil, err
	}
	return train.WithFeatures(ds, src), nil
}

// evalFiles returns the entries an EvalRequest scores and what they are.
func evalFiles(req EvalRequest) ([]corpus.Entry, *EvalReport, error) {
	rep := &EvalReport{Split: req.Split, Model: req.Path, Uniform: math.Log2(float64(req.Model.Config.QuantizationChannels))}
	if req.Data != nil {
		corp, err := corpus.Open(*req.Data)
		if err != nil {
			return nil, nil, err
		}
		rep.Corpus = corp.Source
		files, err := corp.Select(req.Split)
		return files, rep, err
	}
	src, ok := SourceOf(req.Metadata)
	if !ok {
		return nil, nil, &train.OptionError{Before: req.Path + " does not record its training corpus; give ", Option: "Data"}
	}
	s, err := openSplits(src)
	if err != nil {
		return nil, nil, fmt.Errorf("the model's training corpus: %w", err)
	}
	rep.Corpus = s.corp.Source
	if req.Split != "" {
		files, err := s.corp.Select(req.Split)
		return files, rep, err
	}
	if len(s.valid) == 0 {
		return nil, nil, &NoValidationError{Corpus: s.corp.Source}
	}
	// The files the run validated on: bounded as its ValSamples bounded them.
	rep.Bound = s.bound(src.ValSamples, req.Audio.SampleRate)
	rep.Validation = s.validName
	return s.valid, rep, nil
}
