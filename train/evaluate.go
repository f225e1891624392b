package train

import (
	"context"
	"runtime"

	"github.com/nextsample/nextsample/causalconv"
	"github.com/nextsample/nextsample/causalconv/kernels"
)

// EvalChunk is how many predictions one worker computes at once in
// Evaluate. Evaluation workspaces keep about 4 KiB per time step for the
// default model, so a chunk with its context takes about 75 MiB per
// thread.
const EvalChunk = 16384

// EvalResult is the negative log-likelihood of a model on a set of files.
type EvalResult struct {
	// Nats is the summed cross-entropy in nats.
	Nats float64
	// Samples is the number of predicted samples: every sample of every
	// file but its first.
	Samples int64
	// Files is the number of files with at least one prediction.
	Files int
}

// NatsPerSample returns the mean NLL in nats.
func (r EvalResult) NatsPerSample() float64 { return r.Nats / float64(r.Samples) }

// BitsPerSample returns the mean NLL in bits.
func (r EvalResult) BitsPerSample() float64 { return r.NatsPerSample() / ln2 }

const ln2 = 0.6931471805599453

// Evaluate scores model on files: every sample after the first of each file
// is predicted from all the samples before it, with the network's zero
// padding before the file's start (the first sample has nothing to be
// predicted from and is not scored). Long files are split into chunks that
// each carry the receptive field of real context, so the result is that of
// one pass over the whole file. threads 0 means all cores. A cancelled ctx
// stops the evaluation between groups of chunks.
func Evaluate(ctx context.Context, model *causalconv.Model, files [][]int32, threads int) (EvalResult, error) {
	return evaluate(ctx, model, Classes(files), threads, EvalChunk)
}

// EvaluateDataset is Evaluate of the files of a Dataset (with a speaker per
// file, see WithSpeakers, for a speaker-conditioned model, and features,
// see WithFeatures, for a locally conditioned one: the NLL given them), read a group of files
// at a time (about 16 chunks per thread), so memory holds one group rather
// than the split. The classes are checked against the model's.
func EvaluateDataset(ctx context.Context, model *causalconv.Model, s Dataset, threads int) (EvalResult, error) {
	return evaluate(ctx, model, s, threads, EvalChunk)
}

func evaluate(ctx context.Context, model *causalconv.Model, s Dataset, threads, chunk int) (EvalResult, error) {
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	net, err := newConvNet(model, false, kernels.Set{}, causalconv.PrecisionFP32)
	if err != nil {
		return EvalResult{}, err
	}
	e, err := newEngine(net, nil, threads, chunk)
	if err != nil {
		return EvalResult{}, err
	}
	defer e.close()
	if err := checkSpeakers(s, model.Config.Speakers(), "evaluated"); err != nil {
		return EvalResult{}, err
	}
	if err := checkFeatures(s, model.Config.LocalCondition, "evaluated"); err != nil {
		return EvalResult{}, err
	}
	var res EvalResult
	var buf []int32
	// Groups of files of about 16 chunks per thread between checks of ctx.
	res.Nats, res.Samples, res.Files, err = e.evaluateDataset(ctx, s, model.Config.QuantizationChannels, 16*threads*chunk, &buf)
	if err != nil {
		return res, err
	}
	return res, nil
}
