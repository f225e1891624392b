package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/audio/corpus"
	"github.com/nextsample/nextsample/audio/inflight"
)

func infoCommand() *cli.Command {
	return &cli.Command{
		Name:      "info",
		Usage:     "describe WAV, FLAC and NIST SPHERE files, like soxi, and corpora (folders, manifests, Kaldi data directories)",
		ArgsUsage: "FILE|DIR|MANIFEST.csv... (- reads standard input)",
		Description: "For each file: the container (wav, flac or sphere, told by the first bytes,\n" +
			"not the name), the sample encoding (pcm, float, ulaw or alaw), bits per stored\n" +
			"sample, channels, sample rate, frames and duration, and the peak, RMS and DC\n" +
			"(mean) of the decoded samples, channels averaged to mono as training does.\n\n" +
			"A directory (a Kaldi data directory holding wav.scp, or a folder of .wav, .flac\n" +
			"and .sph files) or a manifest (a .csv file) is opened as a corpus, as --data\n" +
			"opens it, and summarised from the headers alone, without decoding: utterances,\n" +
			"recordings (distinct files or wav.scp commands), speakers, labelled utterances,\n" +
			"splits, the total duration with the shortest, median and longest utterance, and\n" +
			"how many utterances have each sample rate, channel count and container/encoding.\n" +
			"wav.scp commands are not run, so their utterances count as \"pipe\" with an unknown\n" +
			"rate, and those without a segment end have an unknown length: they are counted\n" +
			"apart, not in the duration.\n\n" +
			"A file or corpus that cannot be read is reported on stderr as\n" +
			"`nextsample: PATH: reason`; the others are still described, and the exit status is 1.\n\n" +
			"Example:\n" +
			"  nextsample info samples/fsdd/recordings/0_george_0.wav\n" +
			"  nextsample info LibriSpeech/dev-clean/84/121123/84-121123-0000.flac TIMIT/TRAIN/DR1/FCJF0/SA1.WAV\n" +
			"  sox in.wav -t wav - | nextsample info --json -\n" +
			"  nextsample info data/train          # a Kaldi data directory\n" +
			"  nextsample info samples/fsdd/manifest.csv",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "one JSON object per line: for a file path, container, format, bits, channels, sample_rate, frames, duration_s, peak, rms, dc; " +
				"for a corpus kind (kaldi, manifest or folder), path, utterances, recordings, speakers, labelled, splits, splits_assigned, seconds, unknown_length, min_s, median_s, max_s, sample_rates, channels, containers"},
		},
		Action: runInfo,
	}
}

func runInfo(c *cli.Context) error {
	if c.NArg() == 0 {
		return fmt.Errorf("info: no files given (usage: nextsample info [--json] FILE|DIR|MANIFEST.csv...)")
	}
	return reportEach(c, "info", func(path string) (report, error) {
		if corpus.IsCorpusPath(path) {
			return describeCorpus(path)
		}
		return describeFile(c, path)
	})
}

// describeCorpus opens the corpus at path, as --data does, and summarises
// it from the headers of its files.
func describeCorpus(path string) (report, error) {
	corp, err := corpus.Open(path)
	if err != nil {
		return nil, withPath(path, err)
	}
	return corp.Summary(), nil
}

// describeFile decodes the audio file at path ("-": standard input) and
// describes it.
func describeFile(c *cli.Context, path string) (report, error) {
	var clip *audio.Clip
	var err error
	if path == "-" {
		leave := inflight.Enter(c.Context, "reading standard input", nil)
		clip, err = audio.Decode(c.App.Reader, audio.StdinName, audio.DecodeOptions{})
		leave()
	} else {
		clip, err = audio.ReadFile(path, audio.DecodeOptions{})
	}
	if err != nil {
		return nil, err // package audio's errors start with the file's name
	}
	s := clip.Summary()
	s.Path = path // as given: "-" for standard input
	return s, nil
}
