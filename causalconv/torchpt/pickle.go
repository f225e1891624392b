package torchpt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
)

// This file is a pickle reader that builds values and runs nothing. Python's
// pickle is a small stack machine whose GLOBAL and REDUCE opcodes import and
// call arbitrary functions; that is how a torch.save file rebuilds its
// tensors, and also how a hostile file runs code. Here GLOBAL only names a
// class from a short allow-list (allowedGlobals), REDUCE only "calls" the
// few of those a state_dict needs, by building the Go value they stand for,
// and every length is checked against the bytes left before anything is
// allocated. Protocols 2 to 5 are read (torch.save writes 2 by default).

// Limits on what a state_dict pickle may hold. A model's state_dict has
// tens of entries; an optimizer's, thousands; these are far above both and
// far below what could exhaust memory.
const (
	maxPickleBytes = 64 << 20 // data.pkl itself
	maxMemo        = 1 << 20  // memo slots
	maxDepth       = 1 << 16  // stack depth and nested marks
)

// global is a class or function named by GLOBAL / STACK_GLOBAL.
type global struct{ module, name string }

func (g global) String() string { return g.module + "." + g.name }

// allowedGlobals are the names a torch.save of a state_dict (torch
// 1.6–2.x) refers to: the OrderedDict it is, the functions that rebuild
// its tensors, and the storage classes that say their element type.
var allowedGlobals = map[global]bool{
	{"collections", "OrderedDict"}:         true,
	{"torch._utils", "_rebuild_tensor_v2"}: true,
	{"torch._utils", "_rebuild_parameter"}: true,
	{"torch", "FloatStorage"}:              true,
	{"torch", "DoubleStorage"}:             true,
	{"torch", "HalfStorage"}:               true,
	{"torch", "BFloat16Storage"}:           true,
	{"torch", "LongStorage"}:               true,
	{"torch", "IntStorage"}:                true,
	{"torch", "ShortStorage"}:              true,
	{"torch", "CharStorage"}:               true,
	{"torch", "ByteStorage"}:               true,
	{"torch", "BoolStorage"}:               true,
}

// tuple, list and dict are the containers a pickle builds. A dict keeps its
// insertion order, as Python's does.
type (
	tuple []any
	list  struct{ items []any }
	dict  struct {
		keys   []any
		values []any
		index  map[any]int
	}
)

func (d *dict) set(k, v any) error {
	switch k.(type) {
	case string, int64, bool, nil, float64:
	default:
		return fmt.Errorf("dict key of type %s", typeName(k))
	}
	if f, ok := k.(float64); ok && f != f {
		return errors.New("dict key NaN")
	}
	if i, ok := d.index[k]; ok {
		d.values[i] = v
		return nil
	}
	if d.index == nil {
		d.index = map[any]int{}
	}
	d.index[k] = len(d.keys)
	d.keys = append(d.keys, k)
	d.values = append(d.values, v)
	return nil
}

// storageRef is a BINPERSID reference to one storage of the archive:
// ('storage', <dtype class>, key, location, numel).
type storageRef struct {
	dtype string // FloatStorage, HalfStorage, ...
	key   string // the archive entry data/<key>
	numel int64
}

// pickled tensors are *Tensor; see tensor.go.

var errStop = errors.New("STOP")

// unpickler holds the machine's state.
type unpickler struct {
	data   []byte
	pos    int
	stack  []any
	marks  []int
	memo   map[int64]any
	proto  int
	persid func(tuple) (any, error)
}

// unpickle runs the pickle in data and returns the value it builds.
func unpickle(data []byte, persid func(tuple) (any, error)) (any, error) {
	if len(data) > maxPickleBytes {
		return nil, fmt.Errorf("pickle of %d bytes is larger than the %d a state_dict needs", len(data), maxPickleBytes)
	}
	u := &unpickler{data: data, memo: map[int64]any{}, persid: persid}
	for {
		if u.pos >= len(u.data) {
			return nil, errors.New("pickle ends without STOP (truncated)")
		}
		at := u.pos
		op := u.data[u.pos]
		u.pos++
		err := u.step(op)
		if err == errStop {
			if len(u.stack) != 1 || len(u.marks) != 0 {
				return nil, fmt.Errorf("pickle: STOP at byte %d with %d values on the stack", at, len(u.stack))
			}
			return u.stack[0], nil
		}
		if err != nil {
			return nil, fmt.Errorf("pickle byte %d (opcode 0x%02x): %w", at, op, err)
		}
	}
}

func (u *unpickler) need(n int) ([]byte, error) {
	if n < 0 || n > len(u.data)-u.pos {
		return nil, fmt.Errorf("needs %d bytes, %d left (truncated or corrupt)", n, len(u.data)-u.pos)
	}
	b := u.data[u.pos : u.pos+n]
	u.pos += n
	return b, nil
}

func (u *unpickler) push(v any) error {
	if len(u.stack) >= maxDepth {
		return errors.New("stack deeper than any state_dict needs")
	}
	u.stack = append(u.stack, v)
	return nil
}

func (u *unpickler) pop() (any, error) {
	lo := 0
	if len(u.marks) > 0 {
		lo = u.marks[len(u.marks)-1]
	}
	if len(u.stack) <= lo {
		return nil, errors.New("stack underflow")
	}
	v := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	return v, nil
}

func (u *unpickler) top() (any, error) {
	lo := 0
	if len(u.marks) > 0 {
		lo = u.marks[len(u.marks)-1]
	}
	if len(u.stack) <= lo {
		return nil, errors.New("stack underflow")
	}
	return u.stack[len(u.stack)-1], nil
}

// popMark returns the values pushed since the last MARK and removes them
// and the mark.
func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, errors.New("no MARK")
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := append([]any(nil), u.stack[m:]...)
	u.stack = u.stack[:m]
	return items, nil
}

func (u *unpickler) memoize(idx int64) error {
	v, err := u.top()
	if err != nil {
		return err
	}
	if idx < 0 || (len(u.memo) >= maxMemo && u.memo[idx] == nil) {
		return fmt.Errorf("memo index %d", idx)
	}
	u.memo[idx] = v
	return nil
}

func (u *unpickler) get(idx int64) error {
	v, ok := u.memo[idx]
	if !ok {
		return fmt.Errorf("memo index %d was never stored", idx)
	}
	return u.push(v)
}

func (u *unpickler) str(n int) error {
	b, err := u.need(n)
	if err != nil {
		return err
	}
	return u.push(string(b))
}

func (u *unpickler) uint(n int) (uint64, error) {
	b, err := u.need(n)
	if err != nil {
		return 0, err
	}
	var v uint64
	for i := n - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v, nil
}

// length reads an n-byte little-endian length and checks it against the
// bytes left, so that no length field can drive an allocation.
func (u *unpickler) length(n int) (int, error) {
	v, err := u.uint(n)
	if err != nil {
		return 0, err
	}
	if v > uint64(len(u.data)-u.pos) {
		return 0, fmt.Errorf("length %d, but only %d bytes are left (truncated or corrupt)", v, len(u.data)-u.pos)
	}
	return int(v), nil
}

func (u *unpickler) step(op byte) error {
	switch op {
	case 0x80: // PROTO
		b, err := u.need(1)
		if err != nil {
			return err
		}
		if b[0] < 2 || b[0] > 5 {
			return fmt.Errorf("pickle protocol %d (torch.save writes 2 to 5)", b[0])
		}
		u.proto = int(b[0])
	case 0x95: // FRAME: a size hint, the bytes follow inline
		_, err := u.need(8)
		return err
	case '.': // STOP
		return errStop
	case '(': // MARK
		if len(u.marks) >= maxDepth {
			return errors.New("marks nested deeper than any state_dict needs")
		}
		u.marks = append(u.marks, len(u.stack))
	case '0': // POP
		if len(u.marks) > 0 && u.marks[len(u.marks)-1] == len(u.stack) {
			u.marks = u.marks[:len(u.marks)-1] // POP of a bare mark, as Python does
			return nil
		}
		_, err := u.pop()
		return err
	case '1': // POP_MARK
		_, err := u.popMark()
		return err
	case '2': // DUP
		v, err := u.top()
		if err != nil {
			return err
		}
		return u.push(v)

	case 'N': // NONE
		return u.push(nil)
	case 0x88: // NEWTRUE
		return u.push(true)
	case 0x89: // NEWFALSE
		return u.push(false)
	case 'K': // BININT1
		v, err := u.uint(1)
		if err != nil {
			return err
		}
		return u.push(int64(v))
	case 'M': // BININT2
		v, err := u.uint(2)
		if err != nil {
			return err
		}
		return u.push(int64(v))
	case 'J': // BININT
		v, err := u.uint(4)
		if err != nil {
			return err
		}
		return u.push(int64(int32(uint32(v))))
	case 0x8a: // LONG1: a little-endian two's-complement integer of n bytes
		n, err := u.length(1)
		if err != nil {
			return err
		}
		b, _ := u.need(n)
		if n > 8 {
			return fmt.Errorf("integer of %d bytes does not fit in 64 bits", n)
		}
		var v uint64
		for i := n - 1; i >= 0; i-- {
			v = v<<8 | uint64(b[i])
		}
		if n > 0 && n < 8 && b[n-1]&0x80 != 0 {
			v |= ^uint64(0) << (8 * n) // sign-extend
		}
		return u.push(int64(v))
	case 'G': // BINFLOAT, big-endian
		b, err := u.need(8)
		if err != nil {
			return err
		}
		return u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))

	case 'X': // BINUNICODE
		n, err := u.length(4)
		if err != nil {
			return err
		}
		return u.str(n)
	case 0x8c: // SHORT_BINUNICODE
		n, err := u.length(1)
		if err != nil {
			return err
		}
		return u.str(n)
	case 0x8d: // BINUNICODE8
		n, err := u.length(8)
		if err != nil {
			return err
		}
		return u.str(n)
	case 'U': // SHORT_BINSTRING
		n, err := u.length(1)
		if err != nil {
			return err
		}
		return u.str(n)
	case 'T': // BINSTRING
		n, err := u.length(4)
		if err != nil {
			return err
		}
		return u.str(n)
	case 'C': // SHORT_BINBYTES
		n, err := u.length(1)
		if err != nil {
			return err
		}
		b, _ := u.need(n)
		return u.push(append([]byte(nil), b...))
	case 'B': // BINBYTES
		n, err := u.length(4)
		if err != nil {
			return err
		}
		b, _ := u.need(n)
		return u.push(append([]byte(nil), b...))

	case ')': // EMPTY_TUPLE
		return u.push(tuple{})
	case 0x85, 0x86, 0x87: // TUPLE1, TUPLE2, TUPLE3
		n := int(op - 0x84)
		t := make(tuple, n)
		for i := n - 1; i >= 0; i-- {
			v, err := u.pop()
			if err != nil {
				return err
			}
			t[i] = v
		}
		return u.push(t)
	case 't': // TUPLE
		items, err := u.popMark()
		if err != nil {
			return err
		}
		return u.push(tuple(items))
	case ']': // EMPTY_LIST
		return u.push(&list{})
	case 'l': // LIST
		items, err := u.popMark()
		if err != nil {
			return err
		}
		return u.push(&list{items: items})
	case 'a': // APPEND
		v, err := u.pop()
		if err != nil {
			return err
		}
		l, err := topOf[*list](u, "APPEND")
		if err != nil {
			return err
		}
		l.items = append(l.items, v)
	case 'e': // APPENDS
		items, err := u.popMark()
		if err != nil {
			return err
		}
		l, err := topOf[*list](u, "APPENDS")
		if err != nil {
			return err
		}
		l.items = append(l.items, items...)
	case '}': // EMPTY_DICT
		return u.push(&dict{})
	case 'd': // DICT
		items, err := u.popMark()
		if err != nil {
			return err
		}
		d := &dict{}
		if err := setItems(d, items); err != nil {
			return err
		}
		return u.push(d)
	case 's': // SETITEM
		v, err := u.pop()
		if err != nil {
			return err
		}
		k, err := u.pop()
		if err != nil {
			return err
		}
		d, err := topOf[*dict](u, "SETITEM")
		if err != nil {
			return err
		}
		return d.set(k, v)
	case 'u': // SETITEMS
		items, err := u.popMark()
		if err != nil {
			return err
		}
		d, err := topOf[*dict](u, "SETITEMS")
		if err != nil {
			return err
		}
		return setItems(d, items)

	case 'q': // BINPUT
		v, err := u.uint(1)
		if err != nil {
			return err
		}
		return u.memoize(int64(v))
	case 'r': // LONG_BINPUT
		v, err := u.uint(4)
		if err != nil {
			return err
		}
		return u.memoize(int64(v))
	case 0x94: // MEMOIZE
		return u.memoize(int64(len(u.memo)))
	case 'h': // BINGET
		v, err := u.uint(1)
		if err != nil {
			return err
		}
		return u.get(int64(v))
	case 'j': // LONG_BINGET
		v, err := u.uint(4)
		if err != nil {
			return err
		}
		return u.get(int64(v))

	case 'c': // GLOBAL "module\nname\n"
		mod, err := u.line()
		if err != nil {
			return err
		}
		name, err := u.line()
		if err != nil {
			return err
		}
		return u.global(mod, name)
	case 0x93: // STACK_GLOBAL
		name, err := u.pop()
		if err != nil {
			return err
		}
		mod, err := u.pop()
		if err != nil {
			return err
		}
		ms, ok1 := mod.(string)
		ns, ok2 := name.(string)
		if !ok1 || !ok2 {
			return errors.New("STACK_GLOBAL of non-strings")
		}
		return u.global(ms, ns)
	case 'R': // REDUCE: callable(*args)
		args, err := u.pop()
		if err != nil {
			return err
		}
		fn, err := u.pop()
		if err != nil {
			return err
		}
		at, ok := args.(tuple)
		if !ok {
			return fmt.Errorf("REDUCE with %s arguments", typeName(args))
		}
		g, ok := fn.(global)
		if !ok {
			return fmt.Errorf("REDUCE calls a %s", typeName(fn))
		}
		v, err := reduce(g, at)
		if err != nil {
			return err
		}
		return u.push(v)
	case 'b': // BUILD: obj.__setstate__(state)
		state, err := u.pop()
		if err != nil {
			return err
		}
		obj, err := u.top()
		if err != nil {
			return err
		}
		switch obj.(type) {
		case *dict, *Tensor:
			// An OrderedDict's state is its attributes (a state_dict's
			// _metadata: version numbers per module); a parameter's, its
			// Python attributes. Neither changes the tensors.
			if _, ok := state.(*dict); !ok && state != nil {
				if _, ok := state.(tuple); !ok {
					return fmt.Errorf("BUILD of a %s with a %s", typeName(obj), typeName(state))
				}
			}
		default:
			return fmt.Errorf("BUILD of a %s", typeName(obj))
		}
	case 'Q': // BINPERSID
		id, err := u.pop()
		if err != nil {
			return err
		}
		t, ok := id.(tuple)
		if !ok {
			return fmt.Errorf("persistent id is a %s, not a tuple", typeName(id))
		}
		v, err := u.persid(t)
		if err != nil {
			return err
		}
		return u.push(v)
	default:
		return fmt.Errorf("opcode 0x%02x (%q) is not one a state_dict pickle uses", op, rune(op))
	}
	return nil
}

// topOf returns the top of the stack as a T, the container op adds to.
func topOf[T any](u *unpickler, op string) (T, error) {
	var zero T
	v, err := u.top()
	if err != nil {
		return zero, err
	}
	c, ok := v.(T)
	if !ok {
		return zero, fmt.Errorf("%s on a %s", op, typeName(v))
	}
	return c, nil
}

func setItems(d *dict, items []any) error {
	if len(items)%2 != 0 {
		return errors.New("odd number of dict items")
	}
	for i := 0; i < len(items); i += 2 {
		if err := d.set(items[i], items[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// line reads a newline-terminated text argument (of GLOBAL).
func (u *unpickler) line() (string, error) {
	rest := u.data[u.pos:]
	i := strings.IndexByte(string(rest[:min(len(rest), 256)]), '\n')
	if i < 0 {
		return "", errors.New("GLOBAL name without a newline in its first 256 bytes")
	}
	u.pos += i + 1
	return string(rest[:i]), nil
}

func (u *unpickler) global(mod, name string) error {
	g := global{mod, name}
	if !allowedGlobals[g] {
		return fmt.Errorf("the pickle names %s, which is not part of a state_dict of tensors; refusing it (nothing was run)", g)
	}
	return u.push(g)
}

// reduce builds what an allowed callable returns.
func reduce(g global, args tuple) (any, error) {
	switch g {
	case global{"collections", "OrderedDict"}:
		d := &dict{}
		if len(args) == 0 {
			return d, nil
		}
		// OrderedDict(list_of_pairs), which protocol-2 pickles of a
		// reduced OrderedDict may use.
		l, ok := args[0].(*list)
		if len(args) != 1 || !ok {
			return nil, errors.New("OrderedDict called with arguments other than a list of pairs")
		}
		for _, it := range l.items {
			p, ok := it.(tuple)
			if !ok || len(p) != 2 {
				return nil, errors.New("OrderedDict item is not a pair")
			}
			if err := d.set(p[0], p[1]); err != nil {
				return nil, err
			}
		}
		return d, nil
	case global{"torch._utils", "_rebuild_tensor_v2"}:
		// (storage, storage_offset, size, stride, requires_grad,
		// backward_hooks[, metadata])
		if len(args) < 6 || len(args) > 7 {
			return nil, fmt.Errorf("_rebuild_tensor_v2 with %d arguments, want 6 or 7", len(args))
		}
		return newTensor(args[0], args[1], args[2], args[3])
	case global{"torch._utils", "_rebuild_parameter"}:
		// (data, requires_grad, backward_hooks)
		if len(args) != 3 {
			return nil, fmt.Errorf("_rebuild_parameter with %d arguments, want 3", len(args))
		}
		t, ok := args[0].(*Tensor)
		if !ok {
			return nil, fmt.Errorf("_rebuild_parameter of a %s", typeName(args[0]))
		}
		return t, nil
	}
	return nil, fmt.Errorf("%s is a class, not something to call", g)
}

func typeName(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int64:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case []byte:
		return "bytes"
	case tuple:
		return "tuple"
	case *list:
		return "list"
	case *dict:
		return "dict"
	case global:
		return v.String()
	case storageRef:
		return "storage"
	case *Tensor:
		return "tensor"
	}
	return fmt.Sprintf("%T", v)
}
