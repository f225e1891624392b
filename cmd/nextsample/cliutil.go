package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
)

// A report is what info and model print for an argument: a library's
// description of a file or corpus (audio.FileSummary, corpus.Summary,
// *train.ModelInfo), in its JSON form with --json, else in its text form.
type report interface {
	WriteText(w io.Writer) error
}

// reportEach describes each argument of c with describe and prints the
// reports, as info and model do: with --json a JSON object on a line
// each, else text reports separated by a blank line. An argument that
// describe fails on is reported on stderr as "nextsample: reason" (the
// reason names the argument), and the others are still described; cmd
// then fails with errReported, exit status 1. Ctrl-C stops between
// arguments.
func reportEach(c *cli.Context, cmd string, describe func(path string) (report, error)) error {
	out, failed, printed := c.App.Writer, 0, false
	for _, path := range c.Args().Slice() {
		if err := c.Context.Err(); err != nil {
			return fmt.Errorf("%s: %w", cmd, errInterrupted)
		}
		r, err := describe(path)
		if err != nil {
			fmt.Fprintf(c.App.ErrWriter, "nextsample: %v\n", err)
			failed++
			continue
		}
		if c.Bool("json") {
			b, err := json.Marshal(r)
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintf(out, "%s\n", b); err != nil {
				return err
			}
			continue
		}
		if printed {
			fmt.Fprintln(out)
		}
		printed = true
		if err := r.WriteText(out); err != nil {
			return err
		}
	}
	if failed > 0 {
		return errReported
	}
	return nil
}

// withPath returns the error of a corpus or model file at path so that it
// names path: as it is when its message starts with path or with a file
// in it (errors of package corpus usually start with a file of the
// corpus, data/train/wav.scp:3: ...), else as "PATH: reason". A
// *fs.PathError about path itself gives its reason alone ("PATH: no such
// file or directory", not "PATH: stat PATH: ...").
func withPath(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == path {
		err = pe.Err
	}
	if rest, ok := strings.CutPrefix(err.Error(), path); ok && rest != "" && path != "" {
		if rest[0] == ':' || os.IsPathSeparator(rest[0]) || os.IsPathSeparator(path[len(path)-1]) {
			return err
		}
	}
	return fmt.Errorf("%s: %w", path, err)
}
