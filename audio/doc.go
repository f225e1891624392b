// Package audio turns WAV, FLAC and NIST SPHERE files into the sample
// streams nextsample learns from, and sample streams back into WAV files.
//
// Decode, ReadFile and ReadInfo tell the formats apart by their first
// bytes ("RIFF", "fLaC", "NIST_1A"), never by the file name, so the same
// calls read files, TIMIT's SPHERE files named .WAV, and the standard
// output of the pipe commands of a Kaldi wav.scp. The readers are strict
// and written for untrusted input: every size a header declares is checked
// against the size of the file before anything is allocated from it (a
// pipe is read as the data arrives), and a file is either decoded
// correctly or rejected with a one-line error that names it and says what
// is wrong; the errors unwrap to ErrMalformed, ErrTruncated or
// ErrUnsupported.
//
// WAV: PCM with 8 (unsigned), 16, 24 and 32 bits and IEEE float with 32
// and 64 bits, in the plain and the WAVE_FORMAT_EXTENSIBLE header, with
// any number of channels. The placeholder data sizes that streaming
// writers leave when they cannot seek back (0, 0xFFFFFFFF, 0x7FFFF000)
// mean "until the end of the file".
//
// FLAC (flac.go): all of the format but Ogg encapsulation, decoded bit for
// bit as `flac -d` does, with both CRCs of every frame and the MD5 of the
// audio checked. NIST SPHERE (sphere.go): 16-bit PCM in either byte order,
// μ-law and A-law, any number of channels; shorten-compressed files are
// refused with a pointer to sph2pipe.
//
// Decoded samples are mono float32 (one channel, or all averaged), integer
// samples scaled to [-1, 1) by their full scale, so that a FLAC file and
// the WAV file `flac -d` makes of it decode to the same values.
//
// A model is trained, evaluated and prompted with the same preprocessing,
// described by a Settings value that is stored in the model file:
// channel selection, resampling (a port of Kaldi's LinearResample), DC
// removal, peak or RMS normalization, optional silence trimming, and
// μ-law companding to Q classes (MuLaw).
//
// The sub-package corpus indexes folders and manifests of WAV files;
// atomicfile writes files so that a failure never leaves a partial one.
package audio
