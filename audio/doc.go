// Package audio turns WAV files into the sample streams nextsample learns
// from, and sample streams back into WAV files.
//
// The WAV reader is strict and written for untrusted input: every chunk
// size is checked against the size of the file before anything is
// allocated from it, and a file is either decoded correctly or rejected
// with an error that names it and says what is wrong. It reads PCM with 8
// (unsigned), 16, 24 and 32 bits and IEEE float with 32 and 64 bits, in
// the plain and the WAVE_FORMAT_EXTENSIBLE header, with any number of
// channels. The placeholder data sizes that streaming writers leave when
// they cannot seek back (0, 0xFFFFFFFF, 0x7FFFF000) mean "until the end
// of the file". Decoded samples are mono float32, PCM scaled to [-1, 1).
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
