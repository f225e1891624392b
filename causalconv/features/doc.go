// Package features turns speech into frame features for recognizers: one
// vector per 10 ms frame, learned by a causalconv network or computed by
// Kaldi's classic fbank and MFCC front ends, for a whole corpus at once.
//
// # Learned features
//
// A model trained to predict the next sample has to summarise the audio
// it has heard; its activations are that summary. An Extractor runs the
// network over an utterance's μ-law classes (never the output head) and
// pools the chosen activations over each frame:
//
//   - the skip sum Σ_l skip_l, the head's input before its first ReLU
//     (SkipChannels values, 256 for the default model);
//   - the gated activations z = tanh(f)·σ(g) of chosen layers
//     (DilationChannels values each, 32 for the default model);
//   - or any concatenation of them, in the order of a --layers
//     specification (ParseLayers): "skip", "z:all", "z:0,5,19",
//     "skip,z:all".
//
// Pooling is the mean (default) or the maximum over a frame's positions.
// Frames follow Kaldi's conventions (Framing: 25 ms windows every 10 ms,
// snip-edges by default, centred frames on request), so learned features
// line up with fbank features frame for frame and can be concatenated
// with them. Long utterances are processed in chunks with the receptive
// field of context, so memory per worker is bounded and the result is
// that of one pass.
//
// # Corpora
//
// A Recipe says how a kind of features is made: the audio preparation
// (a learned model's stored settings; for fbank and MFCC, the waveform as
// recorded, as Kaldi reads it), the per-worker Computer, and the
// features.json description. LearnedRecipe makes one from a model file
// and the choices it leaves open (LearnedOptions: layers, pooling, frames
// in milliseconds), KaldiRecipe from KaldiOptions; for a
// speaker-conditioned model, Recipe.ChooseSpeakers picks each file's
// speaker (its own where the model knows it, else one given) and records
// the choice in features.json. Run streams a corpus through a Recipe on
// all cores: workers decode and compute utterances in parallel, and the
// calling goroutine receives them in corpus order, with at most two
// utterances per worker in memory, so the output bytes do not depend on
// the number of threads. WriteCorpus writes them with a featio.Writer,
// atomically: an error or an interrupt leaves nothing behind.
//
// A corpus can be split across machines with Shard: shard I of N holds
// the entries at positions I, I+N, I+2N, … in key order; see
// `nextsample help features` for Kubernetes and Slurm examples.
//
// Bench measures throughput in samples per second, for `nextsample bench`
// (features_<variant>, features_fbank) and the package benchmarks.
package features
