package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/nextsample/nextsample/train"
)

func modelCommand() *cli.Command {
	return &cli.Command{
		Name:      "model",
		Usage:     "describe model files (.safetensors): architecture, audio settings, speakers, training state",
		ArgsUsage: "FILE...",
		Description: "For each model file (last.safetensors, best.safetensors, step-NNNNNN.safetensors\n" +
			"of a run, or a file from convert or a PyTorch export): the architecture (every\n" +
			"field of its configuration, layers, receptive field in samples and in ms at the\n" +
			"model's rate, parameters, MFLOP per trained sample, input encoding), the audio\n" +
			"settings stored in it (or the reference preprocessing a file without \"audio\"\n" +
			"metadata is taken to expect), its speakers (for a speaker-conditioned model), the\n" +
			"training summary (step, updates, optimizer and options, precision, seed,\n" +
			"batch, best and last validation, time trained, training data, processes), the\n" +
			"best step and bits of a best.safetensors, whether it holds the optimizer state\n" +
			"that --resume needs, and its size on disk.\n\n" +
			"A file that cannot be read is reported on stderr as `nextsample: PATH: reason`;\n" +
			"the others are still described, and the exit status is 1.\n\n" +
			"Examples:\n" +
			"  nextsample model runs/fsdd/last.safetensors runs/fsdd/best.safetensors\n" +
			"  nextsample model --json runs/fsdd/best.safetensors | jq .receptive_field_ms",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "one JSON object per file, on one line: path, kind (checkpoint, best or model), size_bytes, step, config, layers, " +
				"receptive_field, receptive_field_ms, parameters, mflop_per_sample, input_encoding, sample_rate, audio, audio_assumed, speakers, speaker_count, speaker_note, " +
				"training, best, train_data, resumable, resume_problem, optimizer_tensors, optimizer_bytes, parameter_bytes"},
			&cli.IntFlag{Name: "sample-rate", Usage: "the rate in `Hz` of a model file (exported from PyTorch) that records neither \"audio\" nor \"sample_rate\" metadata; files that record theirs keep it"},
		},
		Action: runModel,
	}
}

func runModel(c *cli.Context) error {
	if c.NArg() == 0 {
		return fmt.Errorf("model: no files given (usage: nextsample model [--json] FILE...)")
	}
	rate := 0
	if c.IsSet("sample-rate") {
		if rate = c.Int("sample-rate"); rate <= 0 {
			return fmt.Errorf("model: --sample-rate %d: want a positive rate in Hz", rate)
		}
	}
	return reportEach(c, "model", func(path string) (report, error) {
		mi, err := train.Inspect(path, train.InspectOptions{SampleRate: rate, RateFlag: "--sample-rate"})
		if err != nil {
			return nil, withPath(path, err)
		}
		return mi, nil
	})
}
