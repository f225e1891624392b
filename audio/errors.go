package audio

import "errors"

// The kinds of bad WAV input. Every error the decoder returns for bad
// bytes is a *FormatError that unwraps to one of them, so callers can
// test with errors.Is while the message still says exactly what is wrong.
var (
	// ErrMalformed: the bytes are not a well-formed WAV file.
	ErrMalformed = errors.New("malformed WAV")
	// ErrTruncated: the file ends before its header says it should.
	ErrTruncated = errors.New("truncated WAV")
	// ErrUnsupported: a well-formed WAV file in an encoding this package
	// does not decode (ADPCM, A-law, μ-law, MP3, ...).
	ErrUnsupported = errors.New("unsupported WAV encoding")
)

// A FormatError describes what is wrong with one input. Its message is
// "NAME: problem", so it can be printed as is.
type FormatError struct {
	Name    string // the file name, or "stdin"
	Kind    error  // ErrMalformed, ErrTruncated or ErrUnsupported
	Problem string // what is wrong, in words
}

func (e *FormatError) Error() string { return e.Name + ": " + e.Problem }

// Unwrap returns the kind of the error.
func (e *FormatError) Unwrap() error { return e.Kind }
