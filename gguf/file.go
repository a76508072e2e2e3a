package gguf

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/thinkv/thinkv/internal/mmap"
)

// A File is an open GGUF file: its metadata and tensor directory, read and
// checked when the file was opened, and its data section, which stays in the
// file's memory mapping.
type File struct {
	Version   uint32       // format version, 2 or 3
	Alignment uint64       // alignment of tensor data, from general.alignment or 32
	KV        []KeyValue   // metadata in file order
	Tensors   []TensorInfo // tensor directory in file order

	data        []byte // the whole file
	dataOff     uint64 // start of the data section in data
	kvIndex     map[string]int
	tensorIndex map[string]int
	unmap       func() error // releases data; nil for Parse
}

// Open memory-maps the named GGUF file read-only (on systems without mmap it
// reads the file into memory) and checks its header, metadata and tensor
// directory. The caller must call Close when done with the file and with
// every slice returned by TensorData.
func Open(path string) (*File, error) {
	data, unmap, err := mmap.Map(path)
	if err != nil {
		return nil, err
	}
	f, err := Parse(data)
	if err != nil {
		if unmap != nil {
			unmap()
		}
		if fe, ok := err.(*FormatError); ok {
			fe.Path = path
		}
		return nil, err
	}
	f.unmap = unmap
	return f, nil
}

// Release tells the system that the tensor data b (a slice TensorData
// returned) will not be read soon, as when a model has copied it into
// another layout: for a memory-mapped file its pages leave the process's
// resident memory, to be read from the file again if b is used later; for
// a file read into memory, or parsed from bytes, it does nothing.
func (f *File) Release(b []byte) {
	if f.unmap == nil || len(b) == 0 || len(f.data) == 0 {
		return
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(f.data)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	if p < lo || p-lo > uintptr(len(f.data)-len(b)) {
		return // not this file's bytes: never advise memory the file does not own
	}
	mmap.Release(b)
}

// Close releases the file's memory mapping. After Close, slices returned by
// TensorData must not be used (the memory behind them is gone), and
// TensorData and Float32Tensor fail; metadata and the tensor directory stay
// readable. Closing a closed File does nothing.
func (f *File) Close() error {
	f.data = nil
	unmap := f.unmap
	f.unmap = nil
	if unmap != nil {
		return unmap()
	}
	return nil
}

// Get returns the value of the metadata key.
func (f *File) Get(key string) (Value, bool) {
	i, ok := f.kvIndex[key]
	if !ok {
		return Value{}, false
	}
	return f.KV[i].Value, true
}

// String returns the value of key if it is a string.
func (f *File) String(key string) (string, bool) {
	v, _ := f.Get(key)
	return v.AsString()
}

// Uint returns the value of key if it is a non-negative integer of any type.
func (f *File) Uint(key string) (uint64, bool) {
	v, _ := f.Get(key)
	return v.AsUint()
}

// Int returns the value of key if it is an integer of any type that fits in
// an int64.
func (f *File) Int(key string) (int64, bool) {
	v, _ := f.Get(key)
	return v.AsInt()
}

// Float returns the value of key if it is a float32, float64 or integer.
func (f *File) Float(key string) (float64, bool) {
	v, _ := f.Get(key)
	return v.AsFloat()
}

// Bool returns the value of key if it is a bool.
func (f *File) Bool(key string) (bool, bool) {
	v, _ := f.Get(key)
	return v.AsBool()
}

// Strings returns a copy of the value of key if it is an array of strings.
func (f *File) Strings(key string) ([]string, bool) {
	v, _ := f.Get(key)
	return v.AsStrings()
}

// Float32s returns a copy of the value of key if it is an array of float32.
func (f *File) Float32s(key string) ([]float32, bool) {
	v, _ := f.Get(key)
	return v.AsFloat32s()
}

// Int32s returns the value of key as int32s if it is an array of integers of
// any type whose elements all fit in an int32.
func (f *File) Int32s(key string) ([]int32, bool) {
	v, _ := f.Get(key)
	return v.AsInt32s()
}

// Tensor returns the directory entry of the named tensor.
func (f *File) Tensor(name string) (*TensorInfo, bool) {
	i, ok := f.tensorIndex[name]
	if !ok {
		return nil, false
	}
	return &f.Tensors[i], true
}

// TensorData returns the encoded data of t as a slice of the file's mapping,
// without copying. The slice is read-only (writing to it faults) and valid
// until Close. TensorData returns nil if the file is closed or if t, changed
// since it was read, describes bytes outside the data section.
func (f *File) TensorData(t *TensorInfo) []byte {
	n := t.Bytes()
	if f.data != nil && n == 0 {
		return []byte{}
	}
	if f.data == nil || t.Offset > uint64(len(f.data)) || n > uint64(len(f.data)) {
		return nil
	}
	start := f.dataOff + t.Offset
	end := start + n
	if end > uint64(len(f.data)) {
		return nil
	}
	return f.data[start:end:end]
}

// Float32Tensor returns the named tensor decoded to a new []float32 of
// NumElements values, converting F16 and BF16 and dequantizing Q8_0 and Q4_0.
func (f *File) Float32Tensor(name string) ([]float32, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("gguf: no tensor %q", name)
	}
	if f.data == nil {
		return nil, errors.New("gguf: Float32Tensor on a closed file")
	}
	b := f.TensorData(t)
	if b == nil {
		return nil, fmt.Errorf("gguf: tensor %q (%v %v) has no valid data", name, t.Type, t.Shape)
	}
	out := make([]float32, t.NumElements())
	if err := decodeFloat32s(out, t.Type, b); err != nil {
		return nil, fmt.Errorf("gguf: tensor %q: %w", name, err)
	}
	return out, nil
}
