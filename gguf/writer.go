package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/thinkv/thinkv/internal/atomicfile"
)

// A Writer builds a GGUF version 3 file: metadata and tensors are added in
// the order they should appear, then written out with WriteTo or WriteFile.
// Tensor data is aligned to 32 bytes, or to general.alignment if that key is
// set (as a uint32 power of two).
type Writer struct {
	kv      []KeyValue
	kvIndex map[string]int
	tensors []wtensor
	names   map[string]bool
}

type wtensor struct {
	info TensorInfo
	data []byte
}

// NewWriter returns an empty Writer.
func NewWriter() *Writer {
	return &Writer{kvIndex: map[string]int{}, names: map[string]bool{}}
}

// AddKV sets the metadata key to v. A new key goes after those already
// added; setting a key again replaces its value in place. An invalid v is
// reported by WriteTo.
func (w *Writer) AddKV(key string, v Value) {
	if i, ok := w.kvIndex[key]; ok {
		w.kv[i].Value = v
		return
	}
	w.kvIndex[key] = len(w.kv)
	w.kv = append(w.kv, KeyValue{key, v})
}

// AddTensor adds a tensor whose data is already encoded as typ. It checks
// the name, shape and size of data. The Writer keeps data, without copying
// it, until it has been written.
func (w *Writer) AddTensor(name string, typ Type, shape []uint64, data []byte) error {
	t := TensorInfo{Name: name, Shape: append([]uint64{}, shape...), Type: typ}
	if w.names[name] {
		return fmt.Errorf("gguf: AddTensor: duplicate tensor name %q", name)
	}
	if len(shape) == 0 || len(shape) > maxDims {
		return fmt.Errorf("gguf: AddTensor %q: %d dimensions, want 1 to %d", name, len(shape), maxDims)
	}
	if !typ.Supported() {
		return fmt.Errorf("gguf: AddTensor %q: unsupported tensor type %v (%d)", name, typ, uint32(typ))
	}
	if shape[0]%uint64(typ.BlockSize()) != 0 {
		return fmt.Errorf("gguf: AddTensor %q: row length %d is not a multiple of the %v block size %d",
			name, shape[0], typ, typ.BlockSize())
	}
	elems := uint64(1)
	for _, d := range shape {
		if d != 0 && elems > uint64(maxInt)/d {
			return fmt.Errorf("gguf: AddTensor %q: shape %v is too large", name, shape)
		}
		elems *= d
	}
	n, err := typ.RowBytes(int(elems))
	if err != nil {
		return fmt.Errorf("gguf: AddTensor %q: %w", name, err)
	}
	if len(data) != n {
		return fmt.Errorf("gguf: AddTensor %q: %v %v needs %d bytes of data, got %d", name, typ, shape, n, len(data))
	}
	w.names[name] = true
	w.tensors = append(w.tensors, wtensor{t, data})
	return nil
}

// AddFloat32Tensor encodes data as typ and adds it as a tensor: F32, F16,
// BF16, Q8_0, Q4_0, Q4_1, Q5_0 and Q5_1 with ggml's reference quantizers,
// Q4_K, Q5_K and Q6_K with thinkv's (see kernels/kquant_quant.go); Q2_K and
// Q3_K are refused.
func (w *Writer) AddFloat32Tensor(name string, typ Type, shape []uint64, data []float32) error {
	t := TensorInfo{Shape: shape, Type: typ}
	if len(shape) == 0 || uint64(len(data)) != t.NumElements() {
		return fmt.Errorf("gguf: AddFloat32Tensor %q: shape %v does not hold %d values", name, shape, len(data))
	}
	if !typ.Supported() || shape[0]%uint64(typ.BlockSize()) != 0 {
		return w.AddTensor(name, typ, shape, nil) // reports the problem
	}
	b, err := encodeFloat32s(typ, data)
	if err != nil {
		return fmt.Errorf("gguf: AddFloat32Tensor %q: %w", name, err)
	}
	return w.AddTensor(name, typ, shape, b)
}

func (w *Writer) alignment() (uint64, error) {
	i, ok := w.kvIndex[alignmentKey]
	if !ok {
		return defaultAlignment, nil
	}
	v := w.kv[i].Value
	a, ok := v.x.(uint32)
	if !ok || v.Type != ValueUint32 || a == 0 || a&(a-1) != 0 {
		return 0, fmt.Errorf("gguf: %s must be a uint32 power of two, got %v %v", alignmentKey, v.Type, v)
	}
	return uint64(a), nil
}

// WriteTo writes the file to out and returns the number of bytes written.
func (w *Writer) WriteTo(out io.Writer) (int64, error) {
	align, err := w.alignment()
	if err != nil {
		return 0, err
	}
	le := binary.LittleEndian
	h := le.AppendUint32(nil, magic)
	h = le.AppendUint32(h, 3)
	h = le.AppendUint64(h, uint64(len(w.tensors)))
	h = le.AppendUint64(h, uint64(len(w.kv)))
	for _, kv := range w.kv {
		h = appendString(h, kv.Key)
		h = le.AppendUint32(h, uint32(kv.Value.Type))
		if h, err = appendValue(h, kv.Value, 0); err != nil {
			return 0, fmt.Errorf("gguf: key %q: %w", kv.Key, err)
		}
	}
	var off uint64
	for _, t := range w.tensors {
		h = appendString(h, t.info.Name)
		h = le.AppendUint32(h, uint32(len(t.info.Shape)))
		for _, d := range t.info.Shape {
			h = le.AppendUint64(h, d)
		}
		h = le.AppendUint32(h, uint32(t.info.Type))
		h = le.AppendUint64(h, off)
		off = alignUp(off+uint64(len(t.data)), align)
	}
	if len(w.tensors) > 0 {
		h = append(h, make([]byte, alignUp(uint64(len(h)), align)-uint64(len(h)))...)
	}
	n, err := out.Write(h)
	total := int64(n)
	if err != nil {
		return total, err
	}
	var pad [256]byte
	for _, t := range w.tensors {
		n, err = out.Write(t.data)
		total += int64(n)
		for p := alignUp(uint64(len(t.data)), align) - uint64(len(t.data)); p > 0 && err == nil; {
			k := min(p, uint64(len(pad)))
			n, err = out.Write(pad[:k])
			total += int64(n)
			p -= k
		}
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// WriteFile writes the file to path atomically: the data goes to a
// temporary file in the same directory, which replaces path only once it is
// complete and synced. On error path is left as it was.
func (w *Writer) WriteFile(path string) error {
	return atomicfile.Write(path, 0o644, func(f io.Writer) error {
		bw := bufio.NewWriterSize(f, 1<<20)
		if _, err := w.WriteTo(bw); err != nil {
			return err
		}
		return bw.Flush()
	})
}

func alignUp(n, align uint64) uint64 { return (n + align - 1) &^ (align - 1) }

func appendString(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint64(b, uint64(len(s)))
	return append(b, s...)
}

// appendValue appends the encoding of v, without its type, to b.
func appendValue(b []byte, v Value, depth int) ([]byte, error) {
	if !v.valid() {
		return b, fmt.Errorf("invalid %v value holding %T", v.Type, v.x)
	}
	if depth >= maxArrayDepth {
		return b, errors.New("arrays nested too deeply")
	}
	le := binary.LittleEndian
	if v.Type == ValueArray {
		elem, _ := v.elemType()
		b = le.AppendUint32(b, uint32(elem))
		b = le.AppendUint64(b, uint64(v.Len()))
		if elems, ok := v.x.([]Value); ok {
			var err error
			for i, e := range elems {
				if e.Type != ValueArray {
					return b, fmt.Errorf("element %d of an array of arrays is %v", i, e.Type)
				}
				if b, err = appendValue(b, e, depth+1); err != nil {
					return b, err
				}
			}
			return b, nil
		}
		for i := range v.Len() {
			b, _ = appendValue(b, v.Index(i), depth)
		}
		return b, nil
	}
	switch x := v.x.(type) {
	case uint8:
		b = append(b, x)
	case int8:
		b = append(b, byte(x))
	case uint16:
		b = le.AppendUint16(b, x)
	case int16:
		b = le.AppendUint16(b, uint16(x))
	case uint32:
		b = le.AppendUint32(b, x)
	case int32:
		b = le.AppendUint32(b, uint32(x))
	case float32:
		b = le.AppendUint32(b, math.Float32bits(x))
	case bool:
		if x {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	case string:
		b = appendString(b, x)
	case uint64:
		b = le.AppendUint64(b, x)
	case int64:
		b = le.AppendUint64(b, uint64(x))
	case float64:
		b = le.AppendUint64(b, math.Float64bits(x))
	}
	return b, nil
}
