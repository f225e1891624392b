package torchpt

import "io"

// WriteRawForTest writes an archive around a hand-made pickle and
// storages, for tests of what Read refuses.
func WriteRawForTest(w io.Writer, pkl []byte, storages map[string][]byte) error {
	z := &zipWriter{w: w}
	z.add("data.pkl", pkl)
	for k, v := range storages {
		z.add("data/"+k, v)
	}
	z.add("version", []byte("3\n"))
	return z.close()
}
