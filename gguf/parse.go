package gguf

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"slices"
)

const (
	magic            = 0x46554747 // "GGUF" read as a little-endian uint32
	defaultAlignment = 32
	alignmentKey     = "general.alignment"
	maxDims          = 4

	// Smallest encodings, used to bound counts before allocating: a key
	// (8-byte length), value type and 1-byte value; a tensor's name length,
	// dimension count, one dimension, type and offset.
	minKVBytes     = 8 + 4 + 1
	minTensorBytes = 8 + 4 + 8 + 4 + 8
)

// A FormatError reports GGUF data that is malformed or that this package
// does not support.
type FormatError struct {
	Path string // the file, or "" for data given to Parse
	Msg  string // what is wrong, and where
}

func (e *FormatError) Error() string {
	if e.Path != "" {
		return "gguf: " + e.Path + ": " + e.Msg
	}
	return "gguf: " + e.Msg
}

func formatErr(format string, args ...any) error {
	return &FormatError{Msg: fmt.Sprintf(format, args...)}
}

// Parse reads a GGUF file held in memory. The File refers to data (tensor
// data is not copied), so data must not be modified while the File is in
// use. Closing a File from Parse releases nothing.
func Parse(data []byte) (*File, error) {
	if len(data) >= 4 && binary.LittleEndian.Uint32(data) != magic {
		return nil, formatErr("not a GGUF file: magic %q, want \"GGUF\"", data[:4])
	}
	if len(data) < 24 {
		return nil, formatErr("%d bytes is too short for a GGUF header (24 bytes)", len(data))
	}
	d := &decoder{buf: data, off: 4}
	f := &File{data: data}
	f.Version, _ = d.u32("")
	switch f.Version {
	case 2, 3:
	case 1:
		return nil, formatErr("GGUF version 1 is not supported (want 2 or 3)")
	case 2 << 24, 3 << 24:
		return nil, formatErr("big-endian GGUF files are not supported")
	default:
		return nil, formatErr("unsupported GGUF version %d (want 2 or 3)", f.Version)
	}
	nTensors, _ := d.u64("")
	nKV, _ := d.u64("")
	if nKV > uint64(d.left()/minKVBytes) {
		return nil, formatErr("header claims %d metadata pairs, but only %d bytes follow", nKV, d.left())
	}
	if nTensors > uint64(d.left()/minTensorBytes) {
		return nil, formatErr("header claims %d tensors, but only %d bytes follow", nTensors, d.left())
	}
	if err := f.parseKV(d, int(nKV)); err != nil {
		return nil, err
	}
	if err := f.parseTensors(d, int(nTensors)); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *File) parseKV(d *decoder, n int) error {
	f.KV = make([]KeyValue, 0, n)
	f.kvIndex = make(map[string]int, n)
	for i := range n {
		key, err := d.str("key")
		if err != nil {
			return formatErr("metadata pair %d: %v", i, err)
		}
		if _, dup := f.kvIndex[key]; dup {
			return formatErr("metadata pair %d: duplicate key %q", i, key)
		}
		t, err := d.u32("value type")
		if err != nil {
			return formatErr("key %q: %v", key, err)
		}
		v, err := d.value(ValueType(t), 0)
		if err != nil {
			return formatErr("key %q: %v", key, err)
		}
		f.kvIndex[key] = len(f.KV)
		f.KV = append(f.KV, KeyValue{key, v})
	}
	f.Alignment = defaultAlignment
	if v, ok := f.Get(alignmentKey); ok {
		a, ok := v.x.(uint32)
		if !ok || v.Type != ValueUint32 {
			return formatErr("%s is %v, want uint32", alignmentKey, v.Type)
		}
		if a == 0 || a&(a-1) != 0 {
			return formatErr("%s = %d is not a power of two", alignmentKey, a)
		}
		f.Alignment = uint64(a)
	}
	return nil
}

func (f *File) parseTensors(d *decoder, n int) error {
	if n > d.left()/minTensorBytes {
		return formatErr("header claims %d tensors, but only %d bytes are left for them at offset %d", n, d.left(), d.off)
	}
	f.Tensors = make([]TensorInfo, n)
	f.tensorIndex = make(map[string]int, n)
	for i := range f.Tensors {
		t := &f.Tensors[i]
		if err := parseTensorInfo(d, t, f.Alignment); err != nil {
			if t.Name != "" {
				return formatErr("tensor %d %q: %v", i, t.Name, err)
			}
			return formatErr("tensor %d: %v", i, err)
		}
		if j, dup := f.tensorIndex[t.Name]; dup {
			return formatErr("tensors %d and %d are both named %q", j, i, t.Name)
		}
		f.tensorIndex[t.Name] = i
	}

	// The data section starts at the next multiple of the alignment. A file
	// without tensor data may end before that.
	start := (uint64(d.off) + f.Alignment - 1) &^ (f.Alignment - 1)
	f.dataOff = uint64(len(d.buf))
	if start < f.dataOff {
		f.dataOff = start
	}
	size := uint64(len(d.buf))
	for i := range f.Tensors {
		t := &f.Tensors[i]
		n := t.Bytes()
		if n == 0 {
			continue
		}
		// Offsets and sizes are below 2⁶³ once checked against size, so the
		// sums cannot overflow.
		if t.Offset > size || n > size || start+t.Offset+n > size {
			return formatErr("tensor %q data [%d, %d) past end of file (size %d)",
				t.Name, start+min(t.Offset, size), start+min(t.Offset, size)+n, size)
		}
	}
	return f.checkOverlap(start)
}

// checkOverlap refuses tensors whose data ranges share bytes: each tensor
// owns its data, and a writer that gave two the same bytes is broken.
func (f *File) checkOverlap(start uint64) error {
	order := make([]int, 0, len(f.Tensors))
	for i := range f.Tensors {
		if f.Tensors[i].Bytes() > 0 {
			order = append(order, i)
		}
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(f.Tensors[a].Offset, f.Tensors[b].Offset) })
	var last *TensorInfo // the tensor whose data ends furthest so far
	for _, i := range order {
		t := &f.Tensors[i]
		if last != nil && t.Offset < last.Offset+last.Bytes() {
			return formatErr("tensors %q data [%d, %d) and %q data [%d, %d) overlap",
				last.Name, start+last.Offset, start+last.Offset+last.Bytes(), t.Name, start+t.Offset, start+t.Offset+t.Bytes())
		}
		if last == nil || t.Offset+t.Bytes() > last.Offset+last.Bytes() {
			last = t
		}
	}
	return nil
}

// parseTensorInfo reads one tensor directory entry into t and checks it on
// its own: shape, type and offset alignment.
func parseTensorInfo(d *decoder, t *TensorInfo, align uint64) error {
	var err error
	if t.Name, err = d.str("name"); err != nil {
		return err
	}
	nd, err := d.u32("dimension count")
	if err != nil {
		return err
	}
	if nd == 0 || nd > maxDims {
		return fmt.Errorf("%d dimensions, want 1 to %d", nd, maxDims)
	}
	t.Shape = make([]uint64, nd)
	elems := uint64(1)
	for j := range t.Shape {
		if t.Shape[j], err = d.u64("dimension"); err != nil {
			return err
		}
		hi, lo := bits.Mul64(elems, t.Shape[j])
		if hi != 0 || lo > math.MaxInt64 || t.Shape[j] > math.MaxInt64 {
			return fmt.Errorf("shape %v overflows", t.Shape[:j+1])
		}
		elems = lo
	}
	typ, err := d.u32("type")
	if err != nil {
		return err
	}
	t.Type = Type(typ)
	if !t.Type.Supported() {
		return fmt.Errorf("unsupported tensor type %v (%d)", t.Type, typ)
	}
	if bs := uint64(t.Type.BlockSize()); t.Shape[0]%bs != 0 {
		return fmt.Errorf("row length %d is not a multiple of the %v block size %d", t.Shape[0], t.Type, bs)
	}
	if elems/uint64(t.Type.BlockSize()) > uint64(maxInt/t.Type.BlockBytes()) {
		return fmt.Errorf("shape %v of %v is too large", t.Shape, t.Type)
	}
	if t.Offset, err = d.u64("data offset"); err != nil {
		return err
	}
	if t.Offset%align != 0 {
		return fmt.Errorf("data offset %d is not a multiple of the alignment %d", t.Offset, align)
	}
	return nil
}
