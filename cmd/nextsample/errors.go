package main

import (
	"errors"
	"strings"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/train"
	"github.com/nextsample/nextsample/train/launch"
)

// flagNames are the CLI's names for the options and operations that
// library errors and reports name by their Go names: the options of a
// train.OptionError (fields of train.Options, launch.Request and
// launch.EvalRequest) or of launch's reports (a launch.OptionName), and
// the operations of a launch.OpError.
var flagNames = map[string]string{
	"Batch":             "--batch",
	"Data":              "--data",
	"ValSplit":          "--val-split",
	"ValData":           "--val-data",
	"ValSamples":        "--val-samples",
	"Condition":         "--condition",
	"CacheDir":          "--cache-dir",
	"Audio":             "audio flags",
	"resume":            "--resume",
	"condition speaker": "--condition speaker",
	"condition fbank":   "--condition fbank",
	"Fbank":             "fbank flags",
	"Features":          "--features",
	"features":          "--features",
	"InitFrom":          "--init-from",
	"init from":         "--init-from",
	"SampleEvery":       "--sample-every",
	"Precision":         "--precision",
}

// flagName returns the CLI's name for a library's option or operation.
func flagName(option string) string {
	if f, ok := flagNames[option]; ok {
		return f
	}
	return option
}

// commandError returns err of command cmd as the CLI prints it, with the
// flag names in place of the library's option names: after "cmd: ", or
// after "cmd --flag: " when err is the failure of what a flag asked for
// (a launch.OpError, such as "train --resume: ...").
func commandError(cmd string, err error) error {
	if op, ok := err.(*launch.OpError); ok {
		return &cliError{cmd + " " + flagName(op.Op) + ": " + withFlags(op.Err), err}
	}
	return &cliError{cmd + ": " + withFlags(err), err}
}

// cliError is an error with the message the CLI prints for it.
type cliError struct {
	msg string
	err error
}

func (e *cliError) Error() string { return e.msg }
func (e *cliError) Unwrap() error { return e.err }

// withFlags returns err's message with the options of its
// train.OptionError, and of those nested in it, named by their flags, and
// an audio.RateError's advice given as the flag that follows it. It may
// be applied to a message it made: that changes nothing.
func withFlags(err error) string {
	msg := err.Error()
	if re := (*audio.RateError)(nil); errors.As(err, &re) {
		msg = strings.Replace(msg, re.Error(), strings.TrimSuffix(re.Error(), ")")+"; enable it with --resample)", 1)
	}
	for oe := (*train.OptionError)(nil); errors.As(err, &oe); err = oe.Err {
		msg = strings.Replace(msg, oe.Error(), oe.Named(flagName(oe.Option)), 1)
	}
	return msg
}
