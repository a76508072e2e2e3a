package safetensors

import (
	"encoding/binary"
	"path/filepath"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	w := NewWriter()
	v := []float32{1, -2, 0.5, 3.25, 0, 65504}
	for _, dt := range []string{"F32", "F16", "BF16"} {
		if err := w.Add("t."+dt, dt, []int{2, 3}, v); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, dt := range []string{"F32", "F16", "BF16"} {
		ten := f.Tensors["t."+dt]
		got, err := ten.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		want := append([]float32(nil), v...)
		if dt == "BF16" {
			want[5] = 65536 // 65504 rounds to 2^16 in bfloat16
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%s[%d] = %v, want %v", dt, i, got[i], want[i])
			}
		}
		if len(ten.Shape) != 2 || ten.Shape[0] != 2 || ten.Shape[1] != 3 {
			t.Errorf("%s shape %v", dt, ten.Shape)
		}
	}
}

func file(header string, body int) []byte {
	b := make([]byte, 8+len(header)+body)
	binary.LittleEndian.PutUint64(b, uint64(len(header)))
	copy(b[8:], header)
	return b
}

func TestHostile(t *testing.T) {
	for name, data := range map[string][]byte{
		"short":          {1, 2, 3},
		"huge header":    append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, "{}"...),
		"bad json":       file("{", 0),
		"unknown dtype":  file(`{"a":{"dtype":"Q9","shape":[1],"data_offsets":[0,1]}}`, 1),
		"past end":       file(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, 8),
		"size mismatch":  file(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, 8),
		"negative shape": file(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, 4),
		"reversed":       file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}`, 4),
		"huge shape":     file(`{"a":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,4]}}`, 4),
	} {
		if _, err := Parse(data); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"__metadata__":{"format":"pt"}}`, 8))
	f.Add(file(`{"b":{"dtype":"BF16","shape":[2,1],"data_offsets":[0,4]}}`, 4))
	f.Fuzz(func(t *testing.T, data []byte) {
		sf, err := Parse(data)
		if err != nil {
			return
		}
		for _, ten := range sf.Tensors {
			if v, err := ten.Float32s(); err == nil && len(v) != ten.Elements() {
				t.Fatalf("%s: decoded %d of %d elements", ten.Name, len(v), ten.Elements())
			}
		}
	})
}
