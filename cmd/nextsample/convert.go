package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/causalconv"
	"github.com/nextsample/nextsample/causalconv/modelfile"
)

func convertCommand() *cli.Command {
	return &cli.Command{
		Name:      "convert",
		Usage:     "convert a model between PyTorch (.pt, .pth) and .safetensors, or rewrite a model's audio metadata",
		ArgsUsage: "IN OUT",
		Description: "The formats are chosen by the extensions of IN and OUT.\n\n" +
			"   .pt/.pth → .safetensors: a torch.save(model.state_dict()) file of the reference\n" +
			"   WaveNet (torch ≥ 1.6 zip format; a checkpoint dict holding it under \"state_dict\" or\n" +
			"   \"model\" also works). A state_dict does not record the architecture, so give it with\n" +
			"   --config, nor the sample rate, so give --sample-rate; the other audio flags default\n" +
			"   to the reference preprocessing. The pickle is read without running anything.\n\n" +
			"   .safetensors → .pt/.pth: the parameters, for torch.load and load_state_dict.\n\n" +
			"   .safetensors → .safetensors: sets the \"audio\" metadata from the audio flags and\n" +
			"   keeps everything else (IN may be OUT).\n\n" +
			"   nextsample convert --config ../shared/bench/config.json --variant skip256 --sample-rate 8000 final.pt final.safetensors\n" +
			"   nextsample convert runs/fsdd/best.safetensors best.pt",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Usage: "architecture `FILE` of a state_dict: the reference's config.json or its model object"},
			&cli.StringFlag{Name: "variant", Usage: "with a whole config.json: the variant `NAME` (skip256, skip128, ...)", DefaultText: "its base model"},
			&cli.IntFlag{Name: "sample-rate", Usage: "the model's sample rate in `Hz`"},
			&cli.BoolFlag{Name: "resample", Usage: "audio metadata: resample files at other rates instead of refusing them"},
			&cli.IntFlag{Name: "channel", Usage: "audio metadata: channel to use, from 1 (0: average all channels)"},
			&cli.StringFlag{Name: "normalize", Usage: "audio metadata: level normalization per file: peak, rms or none", DefaultText: audio.DefaultSettings().Normalize},
			&cli.Float64Flag{Name: "trim-db", Usage: "audio metadata: trim leading and trailing 10 ms frames quieter than this many `dBFS` (0: off)"},
		},
		Action: runConvert,
	}
}

func runConvert(c *cli.Context) error {
	if c.NArg() != 2 {
		return fmt.Errorf("convert: want IN and OUT, got %d arguments", c.NArg())
	}
	in, out := c.Args().Get(0), c.Args().Get(1)
	var o modelfile.ConvertOptions
	if c.IsSet("config") {
		cfg, err := modelConfig(c.String("config"), c.String("variant"))
		if err != nil {
			return fmt.Errorf("convert: %w", err)
		}
		o.Config = &cfg
	} else if c.IsSet("variant") {
		return fmt.Errorf("convert: --variant needs --config")
	}
	if _, err := givenRate(c); err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	o.Audio = audioChanges(c)
	rep, err := modelfile.Convert(in, out, o)
	if err != nil {
		return fmt.Errorf("convert: %w", convertFlagError(err, in))
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(c.App.ErrWriter, "convert: %s\n", n)
	}
	if rep.To == modelfile.FormatTorch {
		fmt.Fprintf(c.App.ErrWriter, "convert: a .pt file keeps only the tensors: give --config and --sample-rate to convert it back\n")
	}
	what := ""
	if rep.Audio != "" {
		what = ", audio " + rep.Audio
	}
	_, err = fmt.Fprintf(c.App.Writer, "convert: %s (%s) → %s (%s): %d parameters%s\n", in, rep.From, out, rep.To, rep.Params, what)
	return err
}

// convertFlagError says how to give, with convert's flags, what
// modelfile.Convert found missing in the input in.
func convertFlagError(err error, in string) error {
	switch {
	case errors.Is(err, modelfile.ErrConfigDisagrees):
		return fmt.Errorf("%s records a different architecture from --config (leave --config out: the file's own is used)", in)
	case errors.Is(err, modelfile.ErrNoConfig):
		if format, _ := modelfile.FormatOf(in); format == modelfile.FormatTorch {
			return fmt.Errorf("%w: give the model configuration with --config (and --variant for a whole config.json with variants)", err)
		}
		return fmt.Errorf("%w; for a file exported without it, give the configuration with --config", err)
	}
	return sampleRateFlagError(err)
}

// modelConfig reads the architecture of a configuration file: a bare
// model object, or a whole config.json and the variant to use (its base
// model when variant is "").
func modelConfig(path, variant string) (causalconv.Config, error) {
	f, err := causalconv.LoadConfig(path)
	if err != nil {
		return causalconv.Config{}, err
	}
	cfg, err := f.Variant(variant)
	if err != nil {
		return causalconv.Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}
