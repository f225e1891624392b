package audio

import "errors"

// The kinds of bad input (WAV, FLAC or NIST SPHERE). Every error the decoder returns for bad
// bytes is a *FormatError that unwraps to one of them, so callers can
// test with errors.Is while the message still says exactly what is wrong.
var (
	// ErrMalformed: the bytes are not a well-formed WAV, FLAC or SPHERE
	// file (including a FLAC frame whose CRC does not match).
	ErrMalformed = errors.New("malformed audio file")
	// ErrTruncated: the file ends before its header says it should.
	ErrTruncated = errors.New("truncated audio file")
	// ErrUnsupported: a well-formed file in an encoding this package does
	// not decode (WAV ADPCM, A-law or μ-law; shorten-compressed SPHERE; ...).
	ErrUnsupported = errors.New("unsupported audio encoding")
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
