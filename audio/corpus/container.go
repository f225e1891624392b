package corpus

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"

	"github.com/nextsample/nextsample/audio/atomicfile"
)

// A container is the file layout the class cache and the feature cache
// share:
//
//	header  cacheHeaderSize bytes: an 8-byte magic, then the cache's own fields
//	data    each entry's items (classes, or frames), from the header on
//	index   per entry: its data offset and item count, uint64 little-endian
//	desc    the JSON description of the cache
//	footer  the index's offset and the description's length (uint64 LE),
//	        then an 8-byte end magic
//
// The footer is written last, by a file that is then renamed into place
// (atomicfile), so a cache without its end magic was never finished.
type container struct {
	kind            string // "class cache" or "feature cache": starts every error
	magic, endMagic string
}

func (k container) errorf(path, format string, args ...any) error {
	return fmt.Errorf("%s %s: %s", k.kind, path, fmt.Sprintf(format, args...))
}

// writeTail writes the index of off and n, the description desc and the
// footer at indexAt (the end of the data), and commits f.
func (k container) writeTail(f *atomicfile.File, path string, desc any, indexAt int64, off, n []int64) error {
	js, err := json.Marshal(desc)
	if err != nil {
		return err
	}
	tail := make([]byte, 0, 16*len(off)+len(js)+cacheFooterSize)
	for i := range off {
		tail = binary.LittleEndian.AppendUint64(tail, uint64(off[i]))
		tail = binary.LittleEndian.AppendUint64(tail, uint64(n[i]))
	}
	tail = append(tail, js...)
	tail = binary.LittleEndian.AppendUint64(tail, uint64(indexAt))
	tail = binary.LittleEndian.AppendUint64(tail, uint64(len(js)))
	tail = append(tail, k.endMagic...)
	if _, err := f.WriteAt(tail, indexAt); err != nil {
		return fmt.Errorf("%s %s: %w", k.kind, path, err)
	}
	if err := f.Commit(); err != nil {
		return fmt.Errorf("%s: %w", k.kind, err)
	}
	return nil
}

// read reads f's footer and its description into desc, asks check
// whether the description is consistent and how many entries of how many
// bytes per item it announces, then reads the index and checks that
// every entry lies in the data region. Every size is checked against the
// file's before it is used (the file is untrusted: fuzzed). It returns the
// entries' offsets and item counts and the sum of the counts.
func (k container) read(f *os.File, path string, desc any, check func() (entries int, itemSize int64, ok bool)) (off, n []int64, total int64, err error) {
	bad := func(format string, args ...any) ([]int64, []int64, int64, error) {
		return nil, nil, 0, k.errorf(path, format, args...)
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, 0, err
	}
	size := fi.Size()
	if size < cacheHeaderSize+cacheFooterSize {
		return bad("%d bytes is too short", size)
	}
	var hdr [cacheHeaderSize]byte
	var foot [cacheFooterSize]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		return bad("%v", err)
	}
	if _, err := f.ReadAt(foot[:], size-cacheFooterSize); err != nil {
		return bad("%v", err)
	}
	if string(hdr[:8]) != k.magic || string(foot[16:]) != k.endMagic {
		return bad("not a complete %s", k.kind)
	}
	indexAt := int64(binary.LittleEndian.Uint64(foot[0:]))
	jsLen := int64(binary.LittleEndian.Uint64(foot[8:]))
	if indexAt < cacheHeaderSize || jsLen < 2 || jsLen > size || indexAt > size-cacheFooterSize-jsLen {
		return bad("footer out of range")
	}
	js := make([]byte, jsLen)
	if _, err := f.ReadAt(js, size-cacheFooterSize-jsLen); err != nil {
		return bad("%v", err)
	}
	if err := json.Unmarshal(js, desc); err != nil {
		return bad("description: %v", err)
	}
	entries, item, ok := check()
	if !ok || item < 1 {
		return bad("inconsistent description")
	}
	indexLen := size - cacheFooterSize - jsLen - indexAt
	if entries < 0 || indexLen%16 != 0 || indexLen/16 != int64(entries) { // not 16*entries, which overflows
		return bad("index of %d bytes for %d entries", indexLen, entries)
	}
	idx := make([]byte, indexLen)
	if _, err := f.ReadAt(idx, indexAt); err != nil {
		return bad("%v", err)
	}
	off, n = make([]int64, entries), make([]int64, entries)
	for i := range off {
		o := binary.LittleEndian.Uint64(idx[16*i:])
		c := binary.LittleEndian.Uint64(idx[16*i+8:])
		if o < cacheHeaderSize || o > uint64(indexAt) || c > (uint64(indexAt)-o)/uint64(item) {
			return bad("entry %d outside the data", i)
		}
		off[i], n[i] = int64(o), int64(c)
		total += int64(c)
	}
	return off, n, total, nil
}
