package featio

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nextsample/nextsample/audio/regular"
)

// Keyed is a set of feature matrices named by utterance keys, as a
// recognizer or a TTS front end hands them over: a features folder
// (written by `nextsample features`, with features.json), a Kaldi scp
// file ("key ark:offset" lines; relative ark paths are tried from the
// current directory, then from the scp's folder, as kaldiio does), a
// Kaldi ark file, or one NumPy .npy file (keyed by its base name).
// Folder and scp matrices are read one at a time, by Load; an ark or npy
// file is read whole when opened.
type Keyed struct {
	// Spec is the folder or file, as given.
	Spec string
	// Sidecar is a folder's features.json (nil otherwise), which says how
	// the features were made.
	Sidecar *Sidecar
	// Keys are the matrices' keys, in the set's order.
	Keys  []string
	index map[string]int
	load  func(i int) (Matrix, error)
	where func(i int) string
}

// OpenKeyed opens the index of spec (see Keyed). A key listed twice is
// refused.
func OpenKeyed(spec string) (*Keyed, error) {
	fi, err := os.Stat(spec)
	if err != nil {
		return nil, err
	}
	k := &Keyed{Spec: spec, index: map[string]int{}}
	if fi.IsDir() {
		set, err := Open(spec)
		if err != nil {
			return nil, err
		}
		k.Sidecar = &set.Sidecar
		for _, e := range set.Entries {
			if err := k.add(e.Key); err != nil {
				return nil, err
			}
		}
		k.load = set.Load
		k.where = func(i int) string { return set.Entries[i].Path }
		return k, nil
	}
	b, err := regular.ReadFile(spec)
	if err != nil {
		return nil, err
	}
	switch ext := strings.ToLower(filepath.Ext(spec)); ext {
	case ".ark":
		ark, err := ReadArk(spec, b)
		if err != nil {
			return nil, err
		}
		for _, e := range ark {
			if err := k.add(e.Key); err != nil {
				return nil, err
			}
		}
		k.load = func(i int) (Matrix, error) { return ark[i].Matrix, nil }
		k.where = func(i int) string { return spec }
	case ".npy":
		m, err := ReadNpy(spec, b)
		if err != nil {
			return nil, err
		}
		k.add(strings.TrimSuffix(filepath.Base(spec), filepath.Ext(spec)))
		k.load = func(int) (Matrix, error) { return m, nil }
		k.where = func(int) string { return spec }
	default: // an scp file, whatever its name
		scp, err := ReadScp(spec, b)
		if err != nil {
			return nil, err
		}
		for i, e := range scp {
			if err := k.add(e.Key); err != nil {
				return nil, err
			}
			if !filepath.IsAbs(e.Path) {
				if _, err := os.Stat(e.Path); err != nil {
					scp[i].Path = filepath.Join(filepath.Dir(spec), e.Path)
				}
			}
		}
		k.load = func(i int) (Matrix, error) { return ReadArkMatrixAt(scp[i].Path, scp[i].Offset) }
		k.where = func(i int) string { return fmt.Sprintf("%s:%d", scp[i].Path, scp[i].Offset) }
	}
	return k, nil
}

func (k *Keyed) add(key string) error {
	if _, dup := k.index[key]; dup {
		return fmt.Errorf("%s: key %q listed twice", k.Spec, key)
	}
	k.index[key] = len(k.Keys)
	k.Keys = append(k.Keys, key)
	return nil
}

// Index returns the position of key in Keys.
func (k *Keyed) Index(key string) (int, bool) {
	i, ok := k.index[key]
	return i, ok
}

// Load reads matrix i (frames × dims).
func (k *Keyed) Load(i int) (Matrix, error) { return k.load(i) }

// Where names matrix i's file (and offset) for messages.
func (k *Keyed) Where(i int) string { return k.where(i) }
