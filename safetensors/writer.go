package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"sort"

	"github.com/thinkv/thinkv/internal/atomicfile"
	"github.com/thinkv/thinkv/kernels"
)

// Writer collects tensors and writes them as one safetensors file.
type Writer struct {
	tensors map[string]*Tensor
}

// NewWriter returns an empty writer.
func NewWriter() *Writer { return &Writer{tensors: map[string]*Tensor{}} }

// Add stores a float32 tensor encoded as dtype (F32, F16 or BF16).
func (w *Writer) Add(name, dtype string, shape []int, v []float32) error {
	n := 1
	for _, d := range shape {
		n *= d
	}
	if n != len(v) {
		return fmt.Errorf("safetensors: tensor %q: shape %v holds %d elements, got %d", name, shape, n, len(v))
	}
	var data []byte
	switch dtype {
	case "F32":
		data = make([]byte, 4*n)
		for i, x := range v {
			binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(x))
		}
	case "F16", "BF16":
		data = make([]byte, 2*n)
		for i, x := range v {
			h := kernels.F32ToF16(x)
			if dtype == "BF16" {
				h = kernels.F32ToBF16(x)
			}
			binary.LittleEndian.PutUint16(data[2*i:], h)
		}
	default:
		return fmt.Errorf("safetensors: cannot write dtype %q", dtype)
	}
	w.tensors[name] = &Tensor{Name: name, DType: dtype, Shape: shape, Data: data}
	return nil
}

// WriteFile writes the tensors, in name order, to path, atomically (see
// atomicfile): on error path is left as it was.
func (w *Writer) WriteFile(path string) error {
	names := make([]string, 0, len(w.tensors))
	for k := range w.tensors {
		names = append(names, k)
	}
	sort.Strings(names)
	header := map[string]any{}
	var off uint64
	for _, n := range names {
		t := w.tensors[n]
		header[n] = map[string]any{"dtype": t.DType, "shape": t.Shape, "data_offsets": []uint64{off, off + uint64(len(t.Data))}}
		off += uint64(len(t.Data))
	}
	h, err := json.Marshal(header)
	if err != nil {
		return err
	}
	out := make([]byte, 8, 8+len(h)+int(off))
	binary.LittleEndian.PutUint64(out, uint64(len(h)))
	out = append(out, h...)
	for _, n := range names {
		out = append(out, w.tensors[n].Data...)
	}
	return atomicfile.WriteFile(path, out, 0o644)
}
