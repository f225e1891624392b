package main

import (
	"fmt"
	"io"
)

// printFileError reports one bad input of a command that goes on with
// the others (it then returns errReported). Errors from package audio
// already start with the file name, so none is added here.
func printFileError(w io.Writer, err error) {
	fmt.Fprintf(w, "nextsample: %v\n", err)
}
