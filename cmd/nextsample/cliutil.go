package main

import (
	"encoding/json"
	"fmt"
	"io"
)

// printFileError reports one bad input of a command that goes on with
// the others (it then returns errReported). Errors from package audio
// already start with the file name, so none is added here.
func printFileError(w io.Writer, err error) {
	fmt.Fprintf(w, "nextsample: %v\n", err)
}

// reporter prints one report per argument, as info and model do: a JSON
// object on a line each with --json, else text reports separated by a
// blank line.
type reporter struct {
	out     io.Writer
	json    bool
	printed bool // a text report is out: the next one follows a blank line
}

// report prints v as JSON, or calls text.
func (r *reporter) report(v any, text func(io.Writer)) error {
	if r.json {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(r.out, "%s\n", b)
		return err
	}
	if r.printed {
		fmt.Fprintln(r.out)
	}
	r.printed = true
	text(r.out)
	return nil
}
