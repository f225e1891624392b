// Package launch turns a request (the corpus, the model, the options a
// user gave) into a training run of package train, started or resumed,
// and scores models on corpora as the trainer validates them. It is
// everything `nextsample train` and `nextsample eval` do between parsing
// their flags and printing, so that a Go program starts, resumes and
// evaluates runs exactly as the CLI does.
//
// # Starting and resuming a run
//
// A run takes three calls, with room between them to report:
//
//	plan, err := launch.Prepare(launch.Request{Out: "runs/fsdd", Data: &manifest})
//	data, err := plan.Open(ctx, launch.CacheOptions{Dir: cacheDir, Threads: plan.Options.Threads})
//	defer data.Close()
//	run, err := plan.Start(data, train.Setup{Log: os.Stderr})
//	defer run.Close()
//	err = run.Train(ctx)
//
// Prepare reads what the request names and decides everything about the
// run without touching audio: for a new run the architecture (the
// request's config file, or causalconv.DefaultConfig), the options
// (train.DefaultOptions of the optimizer, with the request's changes) and
// random initial weights, or with Request.InitFrom a model file's weights
// and, with them, its architecture, conditioning and audio settings
// (initfrom.go); for a resumed one (Request.Resume) the
// checkpoint Out/last.safetensors, whose options the request's changes
// apply to and whose preprocessing and corpus it keeps. Then the corpus
// (see Source) and its splits, the audio settings of a new run (the
// corpus's most common sample rate unless given), the bound on the
// validation set, and the speaker table of a speaker-conditioned model.
//
// Open prepares the μ-law classes of the training and validation files in
// class caches (package corpus), built once per corpus and settings and
// shared by later runs; in a data-parallel run rank 0 builds them while
// the other processes wait at a barrier. Start creates the train.Run in
// Out with the metadata that lets a resumed run and Evaluate find the
// run's corpus and preprocessing again.
//
// "The user gave option X" is explicit in a Request: a nil pointer field
// was not given. A new run takes defaults for those; a resumed run keeps
// what it stored.
//
// # Choosing the splits
//
// A corpus (a manifest.csv, a directory of audio files, a Kaldi data
// directory) trains on its split "train" and validates on Source.ValSplit,
// or else the first of ValSplitNames it has, or else on the training
// files that corpus.AssignSplit puts in its validation share. A Kaldi data
// directory is one split (data/train and data/dev are separate
// directories): all of it trains, less that share. With Source.ValData the
// validation files are another corpus. Source.ValSamples bounds the
// validation set to whole files chosen by a hash of their keys, so the
// choice depends on the keys alone and is the same on resume and in eval.
//
// # Scoring
//
// Evaluate scores a model on a corpus, a split of it, or (given no
// corpus) the validation files of the run that trained it, read from its
// MetaSource metadata and bounded the same way.
//
// # Speakers
//
// The speaker table of a conditioned run is its training files' sorted
// speakers (SpeakerTable). SpeakerRows finds a corpus's files in a table
// under a modelfile.SpeakerPolicy (each file's own speaker, or one given
// for all), the lookup the trainer, Evaluate's callers and the feature
// extractor share; the files it leaves without a row come back with
// their speakers' names, for a message.
//
// # Frame features
//
// Request.Condition "fbank" makes a new run locally conditioned on Kaldi
// filterbank features (FbankOptions: 40 mel bins below 16 kHz, 80 above,
// 25 ms windows every 10 ms, snip edges, no dither) computed from the same
// prepared audio as its classes, in a corpus.FeatureCache beside the class
// cache; the model's hop, window and upsampling stages (UpsampleScales)
// follow from them, conv_in reaches LCContext frames each side, and the
// features are normalised with the training split's statistics. The model
// file records the settings (modelfile.KeyFeatures), so that a resumed
// run, Evaluate and a vocoder compute the same features. Request.Features
// gives them instead (GivenFeatures: a Kaldi scp or a features folder,
// keyed like the corpus), checked before the run starts: every key
// present, the model's dims, finite values, and at most FrameSlack frames
// fewer than the audio needs.
//
// # Reports
//
// What a command prints of a run has a text form here, so that a Go
// program reports a run exactly as the CLI does: Plan.WriteText (the model
// and corpus, before any audio is read), Plan.WriteData (the classes
// prepared, after Open), CacheEvent.String (a class cache being built, and
// then open) and EvalReport.WriteText (a score beside the uniform
// baseline). Where they mention an option they name it through an
// OptionName, as errors do (below).
//
// # Errors
//
// Errors about an option name it by its Go name (a field of Request,
// EvalRequest or train.Options) in a *train.OptionError, and failures of
// resuming, starting from a model or conditioning are *OpError values
// (Op "resume", "init from", "condition speaker", ...), so that a CLI can
// print its own flag names.
package launch
