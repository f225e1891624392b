// Package train trains a causalconv network to predict the next μ-law
// sample of speech, and scores it.
//
// # A step
//
// A batch is a list of Units: a window of a file whose next samples are
// scored, with up to RF−1 samples of real context in front of it (RF is the
// receptive field). The loss is the masked mean cross-entropy: the sum over
// every scored target divided by their count. Each unit longer than
// Options.Chunk scored targets is split into near-equal chunks that each
// carry their own RF−1 samples of context, so even a batch of one long
// sequence gives every core work, and the gradient is that of the whole
// window (the network computes each layer only as far back as later layers
// need).
//
// The chunks run on persistent worker goroutines, one causalconv.Workspace
// each, sharing one read-only causalconv.Packed copy of the weights; the
// longest chunks are handed out first. Every chunk adds its gradient into
// its own slot. The slots are then summed in chunk order, in parallel over
// fixed blocks of the parameter arena, and the same pass computes the
// gradient's global norm from per-block float64 partial sums added in block
// order. So the result of a step does not depend on the thread count or on
// which worker ran which chunk: it is bit-identical for any
// Options.Threads. A steady-state step allocates nothing.
//
// After the sum come the NaN guard (a non-finite loss or gradient skips the
// update and halves the learning rate; five in a row stop the run),
// clipping of the global norm as torch.nn.utils.clip_grad_norm_ does, and
// the optimizer: SGD with momentum (optionally Nesterov) or Adam, both with
// torch.optim's exact update rules, applied over the same parameter
// blocks. The learning rate follows a Schedule: linear warm-up, then
// constant or cosine decay.
//
// # A run
//
// Run adds everything around the steps: batches drawn by a seeded batcher
// (files in an order reshuffled every epoch, a random window of at most
// Options.Crop targets from each), validation in bits per sample beside the
// uniform and unigram baselines, checkpoints (last, best and periodic
// snapshots, written atomically; see checkpoint.go for the layout), a CSV
// log and a loss-curve PNG. The batcher's state, the optimizer's moments,
// the step counts and the learning-rate scale are all saved, so a run that
// is stopped and resumed ends with exactly the weights of one that was not.
// A run reports its messages as lines on Setup.Log and its progress as a
// Status per step to Setup.Progress; drawing them is the caller's business.
// What a run is and what it reached have text forms, the lines the CLI
// prints: Run.WriteSetup before the first step (options, memory) and
// Run.WriteResult at the end (the best validation and the model to use).
// Package train/launch starts and resumes runs from a corpus and the
// options a user gave, as the CLI does.
//
// Two options add to a run without changing its steps. Options.EMA keeps
// an exponential moving average of the weights, which becomes the model
// the run validates, chooses as best and saves, the raw weights being
// training state (ema.go). Options.SampleEvery writes, every so many
// steps, the model's continuations of fixed prompts as WAV files and
// spectrograms, so that a user can hear the run improve (sampling.go).
//
// # Data
//
// A run reads its corpus through a Dataset: the classes of each file, read a
// window at a time (Classes holds them in memory; package corpus's
// ClassCache keeps them in a file). The batcher only knows the files'
// lengths; a goroutine draws each batch's windows and reads them two
// batches ahead of the step, so memory holds a few batches of windows,
// never the corpus. Validation reads a group of files at a time.
//
// # Several processes
//
// With Setup.Comm (a Collective, such as package train/mpi's) a run is one
// process of a data-parallel run: every process draws the same global
// batch and steps its contiguous share; the gradient, summed within a
// process in a fixed tree over the batch's files, is summed over the
// processes once per step, so two processes end with the weights of one.
//
// # Speakers
//
// A speaker-conditioned model (causalconv.GlobalCondition) trains on Splits
// with a speaker per file (WithSpeakers); each Unit carries its speaker.
//
// # Frame features
//
// A locally conditioned model (causalconv.Config.LocalCondition, a
// vocoder) trains on Datasets with features per file (WithFeatures, from
// a FeatureSource such as package corpus's FeatureCache, read one file at
// a time beside its classes). Each Unit carries its whole utterance's
// features and Offset, the utterance sample its Seq starts at, and every
// chunk of it is conditioned from its own first sample
// (causalconv.Workspace.SetFeatures), so a crop is conditioned exactly as
// the same positions of the whole utterance: the result is the same for
// any crop, chunk and thread count. A new model's feature normalisation
// is the training split's per-channel mean and standard deviation
// (FeatureStats), fixed before the first step and stored in its config.
// Speakers and features combine, in either order of wrapping.
//
// Evaluate scores a model on whole files, every sample after the first
// predicted from the samples before it.
package train
