package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// raw builds GGUF bytes by hand.
type raw []byte

func (r raw) u32(v uint32) raw    { return binary.LittleEndian.AppendUint32(r, v) }
func (r raw) u64(v uint64) raw    { return binary.LittleEndian.AppendUint64(r, v) }
func (r raw) str(s string) raw    { return append(r.u64(uint64(len(s))), s...) }
func (r raw) bytes(b ...byte) raw { return append(r, b...) }

// header starts a file with the magic, a version and the two counts.
func header(version uint32, tensors, kvs uint64) raw {
	return raw("GGUF").u32(version).u64(tensors).u64(kvs)
}

// tensorInfo appends one tensor directory entry.
func (r raw) tensorInfo(name string, dims []uint64, typ uint32, off uint64) raw {
	r = r.str(name).u32(uint32(len(dims)))
	for _, d := range dims {
		r = r.u64(d)
	}
	return r.u32(typ).u64(off)
}

// data pads to 32 bytes and appends n zero bytes of tensor data.
func (r raw) data(n int) raw {
	r = append(r, make([]byte, int(alignUp(uint64(len(r)), 32))-len(r))...)
	return append(r, make([]byte, n)...)
}

// oneTensor is a file holding a single tensor and n bytes of data.
func oneTensor(dims []uint64, typ uint32, off uint64, n int) raw {
	return header(3, 1, 0).tensorInfo("blk.0.attn_q.weight", dims, typ, off).data(n)
}

// smallFile is a valid file with a few pairs and two tensors.
func smallFile(t testing.TB) []byte {
	w := NewWriter()
	w.AddKV("general.architecture", StringValue("llama"))
	w.AddKV("n", Uint32Value(5))
	w.AddKV("v", StringsValue([]string{"a", "bc"}))
	w.AddKV("nest", ArrayValue(ValueArray, Int32sValue([]int32{1, 2})))
	if err := w.AddFloat32Tensor("a", TypeQ8_0, []uint64{32}, make([]float32, 32)); err != nil {
		t.Fatal(err)
	}
	if err := w.AddFloat32Tensor("b", TypeF16, []uint64{2, 3}, []float32{1, 2, 3, 4, 5, 6}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func hostileInputs() []struct {
	name string
	data []byte
	want string // in the error message
} {
	nested := header(3, 0, 1).str("deep").u32(uint32(ValueArray))
	for range maxArrayDepth {
		nested = nested.u32(uint32(ValueArray)).u64(1)
	}
	nested = nested.u32(uint32(ValueUint8)).u64(0)

	return []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"short header", header(3, 0, 0)[:20], "too short"},
		{"bad magic", append(raw("GGML"), header(3, 0, 0)[4:]...), `not a GGUF file: magic "GGML"`},
		{"version 1", header(1, 0, 0), "version 1 is not supported"},
		{"version 99", header(99, 0, 0), "unsupported GGUF version 99"},
		{"big-endian", header(3<<24, 0, 0), "big-endian"},
		{"kv count 1<<62", header(3, 0, 1<<62), "claims 4611686018427387904 metadata pairs"},
		{"tensor count 1<<62", header(3, 1<<62, 0), "claims 4611686018427387904 tensors"},
		{"tensor count > bytes", header(3, 2, 0).tensorInfo("a", []uint64{1}, 0, 0), "claims 2 tensors"},
		{"huge key length", header(3, 0, 1).u64(1 << 60).bytes(make([]byte, 20)...), "length 1152921504606846976 exceeds"},
		{"huge string value", header(3, 0, 1).str("k").u32(uint32(ValueString)).u64(1<<63 + 1), `key "k": string at offset 37: length`},
		{"huge array", header(3, 0, 1).str("k").u32(uint32(ValueArray)).u32(uint32(ValueUint32)).u64(1 << 40).u32(0),
			"1099511627776 elements of uint32"},
		{"string array > bytes", header(3, 0, 1).str("k").u32(uint32(ValueArray)).u32(uint32(ValueString)).u64(3).str("a"),
			"3 elements of string need at least 8 bytes each"},
		{"array truncated", header(3, 0, 1).str("k").u32(uint32(ValueArray)).u32(uint32(ValueString)).u64(2).str("a").u64(5).bytes('x'),
			"array element 1"},
		{"unknown value type", header(3, 0, 1).str("k").u32(13).u64(0), `key "k": unknown value type 13`},
		{"unknown element type", header(3, 0, 1).str("k").u32(uint32(ValueArray)).u32(99).u64(0), "unknown element type 99"},
		{"nested too deep", nested, "nested deeper than 16"},
		{"duplicate key", header(3, 0, 2).str("k").u32(0).bytes(1).str("k").u32(0).bytes(2), `duplicate key "k"`},
		{"truncated value", header(3, 0, 1).str("k").u32(uint32(ValueUint64)).u32(0), "need 8 bytes, only 4 left"},
		{"alignment type", header(3, 0, 1).str("general.alignment").u32(uint32(ValueUint64)).u64(64), "want uint32"},
		{"alignment 48", header(3, 0, 1).str("general.alignment").u32(uint32(ValueUint32)).u32(48), "not a power of two"},
		{"alignment 0", header(3, 0, 1).str("general.alignment").u32(uint32(ValueUint32)).u32(0), "not a power of two"},
		{"n_dims 5", oneTensor([]uint64{1, 1, 1, 1, 1}, 0, 0, 4), `"blk.0.attn_q.weight": 5 dimensions`},
		{"n_dims 0", oneTensor(nil, 0, 0, 4).bytes(make([]byte, 8)...), "0 dimensions"},
		{"unknown type", oneTensor([]uint64{4}, 99, 0, 16), "unsupported tensor type Type(99) (99)"},
		{"unsupported type", oneTensor([]uint64{256}, 16, 0, 66), "unsupported tensor type IQ2_XXS (16)"},
		{"partial super-block", oneTensor([]uint64{128, 2}, 12, 0, 144), "row length 128 is not a multiple of the Q4_K block size 256"},
		{"partial Q5_0 block", oneTensor([]uint64{48}, 6, 0, 44), "row length 48 is not a multiple of the Q5_0 block size 32"},
		{"partial block", oneTensor([]uint64{16, 2}, 8, 0, 34), "row length 16 is not a multiple"},
		{"misaligned offset", oneTensor([]uint64{4}, 0, 4, 32), "offset 4 is not a multiple of the alignment 32"},
		{"past end", oneTensor([]uint64{64, 64}, 0, 0, 100),
			`tensor "blk.0.attn_q.weight" data [96, 16480) past end of file (size 196)`},
		{"offset past end", oneTensor([]uint64{4}, 0, 1<<20, 16), "past end of file"},
		{"offset overflow", oneTensor([]uint64{4}, 0, 1<<63, 16), "past end of file"},
		{"offset near max", oneTensor([]uint64{4}, 0, 1<<64-32, 16), "past end of file"},
		{"dims overflow", oneTensor([]uint64{1 << 32, 1 << 32}, 0, 0, 16), "overflows"},
		{"dims too large", oneTensor([]uint64{1 << 62}, 0, 0, 16), "too large"},
		{"duplicate tensor", header(3, 2, 0).tensorInfo("x", []uint64{4}, 0, 0).tensorInfo("x", []uint64{4}, 0, 0).data(16),
			`tensors 0 and 1 are both named "x"`},
		{"overlapping tensors", header(3, 2, 0).tensorInfo("x", []uint64{4}, 0, 0).tensorInfo("y", []uint64{2, 2}, 0, 0).data(16),
			`tensors "x" data [128, 144) and "y" data [128, 144) overlap`},
		{"overlap inside an earlier tensor", header(3, 3, 0).tensorInfo("big", []uint64{32}, 0, 0).
			tensorInfo("a", []uint64{8}, 0, 32).tensorInfo("b", []uint64{8}, 0, 64).data(128),
			`tensors "big" data [128, 256) and "a" data [160, 192) overlap`},
		{"tensor name length", header(3, 1, 0).u64(1 << 62).bytes(make([]byte, 40)...), "tensor 0: name at offset 24"},
	}
}

func TestParseHostile(t *testing.T) {
	for _, tt := range hostileInputs() {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse(tt.data)
			if err == nil {
				t.Fatalf("Parse succeeded: %d pairs, %d tensors", len(f.KV), len(f.Tensors))
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "gguf: ") {
				t.Errorf("error %q lacks the gguf: prefix", err)
			}
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Errorf("error is %T, want *FormatError", err)
			}
		})
	}
}

// TestParseAccepts checks inputs at the edge of validity.
func TestParseAccepts(t *testing.T) {
	for _, tt := range []struct {
		name string
		data []byte
	}{
		{"version 2", header(2, 0, 0)},
		{"no padding after metadata", header(3, 0, 1).str("k").u32(uint32(ValueBool)).bytes(7)},
		{"empty tensor past end", header(3, 1, 0).tensorInfo("x", []uint64{0, 4}, 0, 1<<40)},
		{"adjacent tensors", header(3, 3, 0).tensorInfo("x", []uint64{8}, 0, 32).tensorInfo("y", []uint64{8}, 0, 0).
			tensorInfo("e", []uint64{0}, 0, 32).data(64)},
		{"alignment 1", header(3, 1, 1).str("general.alignment").u32(uint32(ValueUint32)).u32(1).tensorInfo("x", []uint64{1}, 0, 3).bytes(0, 0, 0, 0, 0, 0, 0)},
	} {
		if _, err := Parse(tt.data); err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}

// TestParseTruncated cuts a valid file at every byte offset: every prefix
// that lacks part of the header, directory or tensor data must fail cleanly;
// only the padding after the last tensor is optional.
func TestParseTruncated(t *testing.T) {
	data := smallFile(t)
	f, err := Parse(data)
	if err != nil {
		t.Fatalf("the full file fails: %v", err)
	}
	need := 0
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		need = max(need, int(f.dataOff+ti.Offset+ti.Bytes()))
	}
	if need <= len(data)-32 || need > len(data) {
		t.Fatalf("test bug: data ends at %d of %d bytes", need, len(data))
	}
	for n := range len(data) {
		_, err := Parse(data[:n])
		if n < need && err == nil {
			t.Errorf("Parse of the first %d of %d bytes succeeded", n, len(data))
		}
		if n >= need && err != nil {
			t.Errorf("Parse of the first %d of %d bytes (all data present): %v", n, len(data), err)
		}
	}
}

func TestOpenHostile(t *testing.T) {
	dir := t.TempDir()
	for i, tt := range hostileInputs() {
		path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_"))
		if err := os.WriteFile(path, tt.data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Open(path)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%d %s: Open error %v, want it to name the file and mention %q", i, tt.name, err, tt.want)
		}
	}
}
