package gguf

import (
	"bytes"
	"slices"
	"testing"
)

// FuzzParse checks that Parse never panics, and that whatever it accepts can
// be used in full and survives a trip through the Writer unchanged.
func FuzzParse(f *testing.F) {
	f.Add(smallFile(f))
	for _, tt := range hostileInputs() {
		f.Add(tt.data)
	}
	w := NewWriter()
	for _, kv := range allKV() {
		w.AddKV(kv.Key, kv.Value)
	}
	w.AddKV("general.alignment", Uint32Value(8))
	for i, typ := range []Type{TypeF32, TypeF16, TypeBF16, TypeQ8_0, TypeQ4_0} {
		if err := w.AddFloat32Tensor(typ.String(), typ, []uint64{32, uint64(i + 1)}, make([]float32, 32*(i+1))); err != nil {
			f.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())

	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := Parse(data)
		if err != nil {
			if g != nil {
				t.Fatalf("Parse returned a File and an error")
			}
			return
		}
		for _, kv := range g.KV {
			_ = kv.Value.String()
		}
		for i := range g.Tensors {
			ti := &g.Tensors[i]
			if b := g.TensorData(ti); uint64(len(b)) != ti.Bytes() {
				t.Fatalf("tensor %q: %d bytes of data, want %d", ti.Name, len(b), ti.Bytes())
			}
			if i < 8 { // bound the work: tensors may overlap
				if _, err := g.Float32Tensor(ti.Name); err != nil {
					t.Fatalf("Float32Tensor(%q): %v", ti.Name, err)
				}
			}
		}
		if len(g.Tensors) > 0 && g.Alignment > 4096 {
			return // rewriting would pad to the alignment
		}

		out1 := rewrite(t, g)
		g2, err := Parse(out1)
		if err != nil {
			t.Fatalf("Parse of rewritten file: %v", err)
		}
		if len(g2.KV) != len(g.KV) || len(g2.Tensors) != len(g.Tensors) || g2.Alignment != g.Alignment {
			t.Fatalf("rewritten file has %d pairs, %d tensors, alignment %d; want %d, %d, %d",
				len(g2.KV), len(g2.Tensors), g2.Alignment, len(g.KV), len(g.Tensors), g.Alignment)
		}
		for i := range g.Tensors {
			a, b := &g.Tensors[i], &g2.Tensors[i]
			if a.Name != b.Name || a.Type != b.Type || !slices.Equal(a.Shape, b.Shape) ||
				!bytes.Equal(g.TensorData(a), g2.TensorData(b)) {
				t.Fatalf("tensor %d changed: %+v -> %+v", i, a, b)
			}
		}
		if out2 := rewrite(t, g2); !bytes.Equal(out1, out2) {
			t.Fatalf("rewriting is not stable")
		}
	})
}

func rewrite(t *testing.T, g *File) []byte {
	w := NewWriter()
	for _, kv := range g.KV {
		w.AddKV(kv.Key, kv.Value)
	}
	for i := range g.Tensors {
		ti := &g.Tensors[i]
		if err := w.AddTensor(ti.Name, ti.Type, ti.Shape, g.TensorData(ti)); err != nil {
			t.Fatalf("AddTensor of a parsed tensor: %v", err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatalf("WriteTo of a parsed file: %v", err)
	}
	return buf.Bytes()
}
