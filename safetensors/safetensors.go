// Package safetensors reads and writes Hugging Face safetensors files: an
// 8-byte little-endian header length, a JSON header mapping tensor names to
// dtype, shape and byte offsets, then the raw little-endian data. Reading
// checks every offset, shape and dtype against the bytes present, so corrupt
// or hostile files give errors, never panics.
package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"sort"

	"github.com/thinkv/thinkv/internal/mmap"
	"github.com/thinkv/thinkv/kernels"
)

// Tensor describes one tensor of a file.
type Tensor struct {
	Name  string
	DType string // "F32", "F16" or "BF16" (others are listed but not decodable)
	Shape []int  // row-major, outermost first
	Data  []byte // the tensor's bytes inside the file
}

// Elements returns the number of elements.
func (t *Tensor) Elements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Float32s decodes the tensor into a new []float32.
func (t *Tensor) Float32s() ([]float32, error) {
	n := t.Elements()
	out := make([]float32, n)
	switch t.DType {
	case "F32":
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
		}
	case "F16":
		for i := range out {
			out[i] = kernels.F16ToF32(binary.LittleEndian.Uint16(t.Data[2*i:]))
		}
	case "BF16":
		for i := range out {
			out[i] = kernels.BF16ToF32(binary.LittleEndian.Uint16(t.Data[2*i:]))
		}
	default:
		return nil, fmt.Errorf("safetensors: tensor %q has unsupported dtype %s (supported: F32, F16, BF16)", t.Name, t.DType)
	}
	return out, nil
}

// File is a parsed safetensors file.
type File struct {
	Tensors  map[string]*Tensor
	Metadata map[string]string
	unmap    func() error
}

// Close releases the file's memory mapping, if Open made one; the tensors'
// Data is invalid after.
func (f *File) Close() error {
	if f.unmap == nil {
		return nil
	}
	err := f.unmap()
	f.unmap = nil
	return err
}

// Names returns the tensor names, sorted.
func (f *File) Names() []string {
	n := make([]string, 0, len(f.Tensors))
	for k := range f.Tensors {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// Open memory-maps a safetensors file read-only; tensors point into the
// mapping until Close.
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
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.unmap = unmap
	return f, nil
}

var dtypeSize = map[string]int{"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}

// Parse parses a safetensors file held in memory; tensors alias data.
func Parse(data []byte) (*File, error) {
	if len(data) < 8 {
		return nil, fmt.Errorf("safetensors: %d bytes is too short for the header length", len(data))
	}
	hl := binary.LittleEndian.Uint64(data)
	if hl > uint64(len(data)-8) || hl > 100<<20 {
		return nil, fmt.Errorf("safetensors: header length %d exceeds the file (%d bytes)", hl, len(data))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data[8:8+hl], &raw); err != nil {
		return nil, fmt.Errorf("safetensors: bad JSON header: %w", err)
	}
	body := data[8+hl:]
	f := &File{Tensors: map[string]*Tensor{}}
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &f.Metadata); err != nil {
				return nil, fmt.Errorf("safetensors: bad __metadata__: %w", err)
			}
			continue
		}
		var info struct {
			DType   string   `json:"dtype"`
			Shape   []int64  `json:"shape"`
			Offsets []uint64 `json:"data_offsets"`
		}
		if err := json.Unmarshal(msg, &info); err != nil {
			return nil, fmt.Errorf("safetensors: tensor %q: %w", name, err)
		}
		size, ok := dtypeSize[info.DType]
		if !ok {
			return nil, fmt.Errorf("safetensors: tensor %q has unknown dtype %q", name, info.DType)
		}
		if len(info.Offsets) != 2 || info.Offsets[0] > info.Offsets[1] || info.Offsets[1] > uint64(len(body)) {
			return nil, fmt.Errorf("safetensors: tensor %q data offsets %v outside the %d data bytes", name, info.Offsets, len(body))
		}
		n := uint64(1)
		shape := make([]int, len(info.Shape))
		for i, d := range info.Shape {
			if d < 0 || d > 1<<40 || (d > 0 && n > math.MaxUint64/uint64(d)/8) {
				return nil, fmt.Errorf("safetensors: tensor %q has bad shape %v", name, info.Shape)
			}
			n *= uint64(d)
			shape[i] = int(d)
		}
		if n*uint64(size) != info.Offsets[1]-info.Offsets[0] {
			return nil, fmt.Errorf("safetensors: tensor %q: shape %v of %s needs %d bytes, offsets give %d",
				name, info.Shape, info.DType, n*uint64(size), info.Offsets[1]-info.Offsets[0])
		}
		f.Tensors[name] = &Tensor{Name: name, DType: info.DType, Shape: shape, Data: body[info.Offsets[0]:info.Offsets[1]]}
	}
	return f, nil
}
