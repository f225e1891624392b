// Command nextsample learns speech without labels by predicting the next
// audio sample with a WaveNet-style dilated causal convolution network.
//
//	nextsample train     train a model on a folder or manifest of WAV files
//	nextsample eval      bits per sample of a model on a corpus
//	nextsample generate  continue a prompt WAV with a trained model
//	nextsample features  frame features (one vector per 10 ms) for recognizers
//	nextsample probe     linear-probe accuracy of frame features
//	nextsample info      describe WAV files, like soxi
//	nextsample bench     throughput, in the reference benchmark's units
//	nextsample convert   models to and from PyTorch's .pt files
//
// Run `nextsample help COMMAND` for the flags of each command.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/nextsample/nextsample/audio/inflight"
)

// exitInterrupted is the shell's convention for a process stopped by SIGINT.
const exitInterrupted = 130

// errInterrupted marks a run that stopped cleanly because of Ctrl-C.
var errInterrupted = errors.New("interrupted")

// errReported means the command already printed its errors (one per bad
// input) and only the exit status is left to set.
var errReported = errors.New("errors reported")

func newApp(stdin io.Reader, stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:  "nextsample",
		Usage: "learn speech without labels by predicting the next audio sample",
		Description: "A WaveNet-style dilated causal convolution network, written by hand in Go,\n" +
			"trained to predict the next μ-law sample of speech. It trains on a folder or\n" +
			"manifest of WAV files, generates continuations of a prompt, and turns speech\n" +
			"into frame features for speech recognizers.",
		Reader:          stdin,
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: false,
		Commands: []*cli.Command{
			trainCommand(),
			evalCommand(),
			generateCommand(),
			vocodeCommand(),
			featuresCommand(),
			probeCommand(),
			infoCommand(),
			modelCommand(),
			benchCommand(),
			convertCommand(),
			compareCommand(),
		},
		// Errors are printed once, by run, not also by urfave/cli.
		ExitErrHandler: func(*cli.Context, error) {},
	}
}

// run executes the CLI and returns the process exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	err := newApp(stdin, stdout, stderr).RunContext(ctx, args)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errInterrupted):
		fmt.Fprintln(stderr, "nextsample: interrupted")
		return exitInterrupted
	case errors.Is(err, errReported):
		return 1
	default:
		fmt.Fprintf(stderr, "nextsample: %s\n", withFlags(err))
		return 1
	}
}

func main() {
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	// The first signal stops the work cleanly; a process stuck in a call
	// that ignores it quits anyway (see inflight.Supervisor).
	sup := &inflight.Supervisor{Name: "nextsample", Signals: signals, Stderr: os.Stderr}
	os.Exit(sup.Run(func(ctx context.Context) int {
		return run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	}))
}

// printJSON prints v as one line of JSON on the standard output of
// command c: its --json output.
func printJSON(c *cli.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%s: %w", c.Command.Name, err)
	}
	_, err = fmt.Fprintf(c.App.Writer, "%s\n", b)
	return err
}

// interrupted marks err as a Ctrl-C stop when ctx was cancelled.
func interrupted(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", errInterrupted, err)
	}
	return err
}
