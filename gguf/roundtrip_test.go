package gguf

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/thinkv/thinkv/kernels"
)

// allKV has a value of every type, arrays of every element type, empty
// arrays and nested arrays.
func allKV() []KeyValue {
	return []KeyValue{
		{"t.uint8", Uint8Value(200)},
		{"t.int8", Int8Value(-100)},
		{"t.uint16", Uint16Value(60000)},
		{"t.int16", Int16Value(-30000)},
		{"t.uint32", Uint32Value(4_000_000_000)},
		{"t.int32", Int32Value(-2_000_000_000)},
		{"t.float32", Float32Value(1.5)},
		{"t.bool", BoolValue(true)},
		{"t.false", BoolValue(false)},
		{"t.string", StringValue("héllo\x00 wörld")},
		{"t.empty", StringValue("")},
		{"t.uint64", Uint64Value(1<<63 + 5)},
		{"t.int64", Int64Value(-1 << 62)},
		{"t.float64", Float64Value(math.Pi)},
		{"a.uint8", ArrayValue(ValueUint8, Uint8Value(1), Uint8Value(255))},
		{"a.int8", ArrayValue(ValueInt8, Int8Value(-128), Int8Value(127))},
		{"a.uint16", ArrayValue(ValueUint16, Uint16Value(65535))},
		{"a.int16", ArrayValue(ValueInt16, Int16Value(-2), Int16Value(3))},
		{"a.uint32", ArrayValue(ValueUint32, Uint32Value(7), Uint32Value(1<<31))},
		{"a.int32", Int32sValue([]int32{-1, 0, 1 << 30})},
		{"a.float32", Float32sValue([]float32{0.25, -1e-7, float32(math.Inf(1))})},
		{"a.bool", ArrayValue(ValueBool, BoolValue(true), BoolValue(false))},
		{"a.string", StringsValue([]string{"<unk>", "", "▁the"})},
		{"a.uint64", ArrayValue(ValueUint64, Uint64Value(math.MaxUint64))},
		{"a.int64", ArrayValue(ValueInt64, Int64Value(math.MinInt64))},
		{"a.float64", ArrayValue(ValueFloat64, Float64Value(-0.5), Float64Value(1e300))},
		{"a.empty", ArrayValue(ValueInt64)},
		{"a.nested", ArrayValue(ValueArray,
			ArrayValue(ValueUint8, Uint8Value(1), Uint8Value(2), Uint8Value(3)),
			StringsValue([]string{"x", "yz"}),
			ArrayValue(ValueArray, ArrayValue(ValueFloat64, Float64Value(2.5))),
			ArrayValue(ValueArray),
		)},
	}
}

func writeParse(t *testing.T, w *Writer) *File {
	t.Helper()
	var buf bytes.Buffer
	n, err := w.WriteTo(&buf)
	if err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	if n != int64(buf.Len()) {
		t.Fatalf("WriteTo returned %d, wrote %d bytes", n, buf.Len())
	}
	f, err := Parse(buf.Bytes())
	if err != nil {
		t.Fatalf("Parse of writer output: %v", err)
	}
	return f
}

func TestRoundTripMetadata(t *testing.T) {
	w := NewWriter()
	want := allKV()
	for _, kv := range want {
		w.AddKV(kv.Key, kv.Value)
	}
	f := writeParse(t, w)
	if f.Version != 3 || f.Alignment != 32 || len(f.Tensors) != 0 {
		t.Errorf("version %d, alignment %d, %d tensors; want 3, 32, 0", f.Version, f.Alignment, len(f.Tensors))
	}
	if len(f.KV) != len(want) {
		t.Fatalf("got %d pairs, want %d", len(f.KV), len(want))
	}
	for i, kv := range want {
		if got := f.KV[i]; got.Key != kv.Key || !reflect.DeepEqual(got.Value, kv.Value) {
			t.Errorf("pair %d: got %s = %v, want %s = %v", i, got.Key, got.Value, kv.Key, kv.Value)
		}
		if v, ok := f.Get(kv.Key); !ok || !reflect.DeepEqual(v, kv.Value) {
			t.Errorf("Get(%q) = %v, %v", kv.Key, v, ok)
		}
	}
	nested, _ := f.Get("a.nested")
	if e, _ := nested.Elem(); e != ValueArray || nested.Len() != 4 {
		t.Errorf("a.nested: elem %v, len %d", e, nested.Len())
	}
	if s, ok := nested.Index(1).AsStrings(); !ok || !reflect.DeepEqual(s, []string{"x", "yz"}) {
		t.Errorf("a.nested[1] = %v, %v", s, ok)
	}
	if f2 := nested.Index(2).Index(0).Index(0); f2.Type != ValueFloat64 || f2.String() != "2.5" {
		t.Errorf("a.nested[2][0][0] = %v", f2)
	}
}

func TestGetters(t *testing.T) {
	w := NewWriter()
	for _, kv := range allKV() {
		w.AddKV(kv.Key, kv.Value)
	}
	w.AddKV("a.big", ArrayValue(ValueInt64, Int64Value(1<<40)))
	f := writeParse(t, w)

	if u, ok := f.Uint("t.uint16"); !ok || u != 60000 {
		t.Errorf("Uint(uint16) = %d, %v", u, ok)
	}
	if _, ok := f.Uint("t.int8"); ok {
		t.Errorf("Uint of a negative int8 succeeded")
	}
	if i, ok := f.Int("t.int32"); !ok || i != -2_000_000_000 {
		t.Errorf("Int(int32) = %d, %v", i, ok)
	}
	if i, ok := f.Int("t.uint32"); !ok || i != 4_000_000_000 {
		t.Errorf("Int(uint32) = %d, %v", i, ok)
	}
	if _, ok := f.Int("t.uint64"); ok {
		t.Errorf("Int of a uint64 above MaxInt64 succeeded")
	}
	if x, ok := f.Float("t.float32"); !ok || x != 1.5 {
		t.Errorf("Float(float32) = %g, %v", x, ok)
	}
	if x, ok := f.Float("t.int16"); !ok || x != -30000 {
		t.Errorf("Float(int16) = %g, %v", x, ok)
	}
	if _, ok := f.Float("t.string"); ok {
		t.Errorf("Float of a string succeeded")
	}
	if b, ok := f.Bool("t.bool"); !ok || !b {
		t.Errorf("Bool = %v, %v", b, ok)
	}
	if s, ok := f.String("t.string"); !ok || s != "héllo\x00 wörld" {
		t.Errorf("String = %q, %v", s, ok)
	}
	if _, ok := f.String("t.uint8"); ok {
		t.Errorf("String of a uint8 succeeded")
	}
	if s, ok := f.Strings("a.string"); !ok || !reflect.DeepEqual(s, []string{"<unk>", "", "▁the"}) {
		t.Errorf("Strings = %q, %v", s, ok)
	}
	if x, ok := f.Float32s("a.float32"); !ok || len(x) != 3 || x[0] != 0.25 {
		t.Errorf("Float32s = %v, %v", x, ok)
	}
	if x, ok := f.Int32s("a.uint32"); ok {
		t.Errorf("Int32s of a uint32 array holding 1<<31 = %v", x)
	}
	if x, ok := f.Int32s("a.int16"); !ok || !reflect.DeepEqual(x, []int32{-2, 3}) {
		t.Errorf("Int32s(int16 array) = %v, %v", x, ok)
	}
	if x, ok := f.Int32s("a.int32"); !ok || !reflect.DeepEqual(x, []int32{-1, 0, 1 << 30}) {
		t.Errorf("Int32s = %v, %v", x, ok)
	}
	if _, ok := f.Int32s("a.big"); ok {
		t.Errorf("Int32s of an int64 above MaxInt32 succeeded")
	}
	if _, ok := f.Strings("missing"); ok {
		t.Errorf("Strings of a missing key succeeded")
	}
	if _, ok := f.Uint("missing"); ok {
		t.Errorf("Uint of a missing key succeeded")
	}
	// Returned slices are copies.
	s, _ := f.Strings("a.string")
	s[0] = "changed"
	if s2, _ := f.Strings("a.string"); s2[0] != "<unk>" {
		t.Errorf("Strings returned the file's own slice")
	}
}

func TestValueString(t *testing.T) {
	tests := []struct {
		v    Value
		want string
	}{
		{Uint32Value(7), "7"},
		{Int8Value(-3), "-3"},
		{Float32Value(0.1), "0.1"},
		{Float64Value(1e-5), "1e-05"},
		{BoolValue(true), "true"},
		{StringValue("a\"b"), `"a\"b"`},
		{Int32sValue([]int32{1, 2}), "[2]int32{1, 2}"},
		{ArrayValue(ValueString), "[0]string{}"},
		{StringsValue(strings.Split("a b c d e f g h i j", " ")),
			`[10]string{"a", "b", "c", "d", "e", "f", "g", "h", ...}`},
		{ArrayValue(ValueArray, ArrayValue(ValueBool, BoolValue(false))), "[1]array{[1]bool{false}}"},
		{Value{}, "<invalid uint8 value>"},
	}
	for _, tt := range tests {
		if got := tt.v.String(); got != tt.want {
			t.Errorf("String() = %s, want %s", got, tt.want)
		}
	}
}

func TestArrayValuePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Errorf("ArrayValue with a mismatched element did not panic")
		}
	}()
	ArrayValue(ValueUint8, Uint8Value(1), Int8Value(2))
}

func TestRoundTripTensors(t *testing.T) {
	for _, align := range []uint32{0, 64, 1} {
		w := NewWriter()
		w.AddKV("general.architecture", StringValue("test"))
		if align != 0 {
			w.AddKV("general.alignment", Uint32Value(align))
		}
		src := make([]float32, 64*3)
		for i := range src {
			src[i] = float32(math.Sin(float64(i))) * float32(i%7+1)
		}
		types := []Type{TypeF32, TypeF16, TypeBF16, TypeQ8_0, TypeQ4_0}
		shapes := [][]uint64{{64, 3}, {32, 2, 3}, {64, 1, 3, 1}, {192}, {96, 2}}
		for i, typ := range types {
			if err := w.AddFloat32Tensor("t."+typ.String(), typ, shapes[i], src); err != nil {
				t.Fatal(err)
			}
		}
		raw := []byte{1, 2, 3, 4, 5, 6}
		if err := w.AddTensor("raw.f16", TypeF16, []uint64{3}, raw); err != nil {
			t.Fatal(err)
		}
		f := writeParse(t, w)
		wantAlign := uint64(32)
		if align != 0 {
			wantAlign = uint64(align)
		}
		if f.Alignment != wantAlign {
			t.Errorf("alignment = %d, want %d", f.Alignment, wantAlign)
		}
		for i, typ := range types {
			name := "t." + typ.String()
			ti, ok := f.Tensor(name)
			if !ok {
				t.Fatalf("no tensor %q", name)
			}
			if ti.Type != typ || !reflect.DeepEqual(ti.Shape, shapes[i]) || ti.Offset%f.Alignment != 0 {
				t.Errorf("%s: type %v shape %v offset %d", name, ti.Type, ti.Shape, ti.Offset)
			}
			if ti.NumElements() != 192 {
				t.Errorf("%s: NumElements = %d", name, ti.NumElements())
			}
			want := expectDecoded(typ, src)
			got, err := f.Float32Tensor(name)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: Float32Tensor differs from the encode/decode reference", name)
			}
		}
		ti, _ := f.Tensor("raw.f16")
		if got := f.TensorData(ti); !bytes.Equal(got, raw) {
			t.Errorf("raw.f16 data = %v, want %v", got, raw)
		}
		if got, _ := f.Float32Tensor("raw.f16"); got[0] != kernels.F16ToF32(0x0201) {
			t.Errorf("raw.f16[0] = %g", got[0])
		}
		if _, err := f.Float32Tensor("nope"); err == nil {
			t.Errorf("Float32Tensor of a missing tensor succeeded")
		}
	}
}

// expectDecoded returns what src should read back as after encoding as typ.
func expectDecoded(typ Type, src []float32) []float32 {
	out := make([]float32, len(src))
	switch typ {
	case TypeF32:
		copy(out, src)
	case TypeF16:
		for i, v := range src {
			out[i] = kernels.F16ToF32(kernels.F32ToF16(v))
		}
	case TypeBF16:
		for i, v := range src {
			out[i] = kernels.BF16ToF32(kernels.F32ToBF16(v))
		}
	case TypeQ8_0:
		q := make([]byte, len(src)/32*34)
		kernels.QuantizeQ8_0(q, src)
		kernels.DequantizeQ8_0(out, q)
	case TypeQ4_0:
		q := make([]byte, len(src)/32*18)
		kernels.QuantizeQ4_0(q, src)
		kernels.DequantizeQ4_0(out, q)
	}
	return out
}

func TestWriterErrors(t *testing.T) {
	w := NewWriter()
	if err := w.AddTensor("a", TypeF32, []uint64{2}, make([]byte, 8)); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name  string
		err   error
		wants string
	}{
		{"duplicate", w.AddTensor("a", TypeF32, []uint64{2}, make([]byte, 8)), "duplicate"},
		{"no dims", w.AddTensor("b", TypeF32, nil, nil), "0 dimensions"},
		{"5 dims", w.AddTensor("b", TypeF32, []uint64{1, 1, 1, 1, 1}, make([]byte, 4)), "5 dimensions"},
		{"unsupported", w.AddTensor("b", Type(16), []uint64{256}, nil), "unsupported tensor type IQ2_XXS (16)"},
		{"K partial block", w.AddTensor("b", TypeQ4_K, []uint64{128, 2}, make([]byte, 144)), "not a multiple of the Q4_K block size 256"},
		{"f32 q6_k", w.AddFloat32Tensor("b", TypeQ6_K, []uint64{32, 8}, make([]float32, 256)), "not a multiple"},
		{"no quantizer", w.AddFloat32Tensor("b", TypeQ3_K, []uint64{256}, make([]float32, 256)), "no quantizer for Q3_K"},
		{"partial block", w.AddTensor("b", TypeQ8_0, []uint64{16, 2}, make([]byte, 34)), "not a multiple"},
		{"short data", w.AddTensor("b", TypeF16, []uint64{4}, make([]byte, 6)), "needs 8 bytes"},
		{"overflow", w.AddTensor("b", TypeF32, []uint64{1 << 40, 1 << 40}, nil), "too large"},
		{"f32 count", w.AddFloat32Tensor("b", TypeF32, []uint64{3}, make([]float32, 4)), "does not hold"},
		{"f32 q4", w.AddFloat32Tensor("b", TypeQ4_0, []uint64{8, 4}, make([]float32, 32)), "not a multiple"},
	}
	for _, b := range bad {
		if b.err == nil || !strings.Contains(b.err.Error(), b.wants) {
			t.Errorf("%s: err = %v, want it to mention %q", b.name, b.err, b.wants)
		}
	}
	w.AddKV("general.alignment", Uint32Value(48))
	if _, err := w.WriteTo(&bytes.Buffer{}); err == nil {
		t.Errorf("WriteTo with alignment 48 succeeded")
	}
	w.AddKV("general.alignment", Uint64Value(64))
	if _, err := w.WriteTo(&bytes.Buffer{}); err == nil {
		t.Errorf("WriteTo with a uint64 alignment succeeded")
	}
	w.AddKV("general.alignment", Uint32Value(16)) // replaces in place
	w.AddKV("bad", Value{Type: ValueString})
	if _, err := w.WriteTo(&bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), `key "bad"`) {
		t.Errorf("WriteTo with an invalid value: %v", err)
	}
	w.AddKV("bad", StringValue("ok"))
	f := writeParse(t, w)
	if len(f.KV) != 2 || f.Alignment != 16 {
		t.Errorf("got %d pairs, alignment %d; want 2, 16", len(f.KV), f.Alignment)
	}
}

func TestOpenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.gguf")
	w := NewWriter()
	w.AddKV("general.name", StringValue("x"))
	data := []float32{1, 2, 3, 4}
	if err := w.AddFloat32Tensor("w", TypeF32, []uint64{2, 2}, data); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.Float32Tensor("w")
	if err != nil || !reflect.DeepEqual(got, data) {
		t.Errorf("Float32Tensor = %v, %v", got, err)
	}
	ti, _ := f.Tensor("w")
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if f.TensorData(ti) != nil {
		t.Errorf("TensorData after Close is not nil")
	}
	if _, err := f.Float32Tensor("w"); err == nil {
		t.Errorf("Float32Tensor after Close succeeded")
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if name, _ := f.String("general.name"); name != "x" {
		t.Errorf("metadata after Close: %q", name)
	}

	if _, err := Open(filepath.Join(t.TempDir(), "missing.gguf")); err == nil {
		t.Errorf("Open of a missing file succeeded")
	}
	if err := w.WriteFile(filepath.Join(t.TempDir(), "no", "such", "dir")); err == nil {
		t.Errorf("WriteFile into a missing directory succeeded")
	}
}

func TestType(t *testing.T) {
	for _, tt := range []struct {
		t           Type
		name        string
		block, size int
	}{
		{TypeF32, "F32", 1, 4}, {TypeF16, "F16", 1, 2}, {TypeBF16, "BF16", 1, 2},
		{TypeQ8_0, "Q8_0", 32, 34}, {TypeQ4_0, "Q4_0", 32, 18},
		{TypeQ4_1, "Q4_1", 32, 20}, {TypeQ5_0, "Q5_0", 32, 22}, {TypeQ5_1, "Q5_1", 32, 24},
		{TypeQ2_K, "Q2_K", 256, 84}, {TypeQ3_K, "Q3_K", 256, 110}, {TypeQ4_K, "Q4_K", 256, 144},
		{TypeQ5_K, "Q5_K", 256, 176}, {14, "Q6_K", 256, 210},
		{15, "Q8_K", 0, 0}, {16, "IQ2_XXS", 0, 0}, {4, "Type(4)", 0, 0}, {1000, "Type(1000)", 0, 0},
	} {
		if tt.t.String() != tt.name || tt.t.BlockSize() != tt.block || tt.t.BlockBytes() != tt.size {
			t.Errorf("%d: %s %d %d, want %s %d %d", uint32(tt.t), tt.t, tt.t.BlockSize(), tt.t.BlockBytes(),
				tt.name, tt.block, tt.size)
		}
	}
	if n, err := TypeQ4_0.RowBytes(64); n != 36 || err != nil {
		t.Errorf("Q4_0 RowBytes(64) = %d, %v", n, err)
	}
	if n, err := TypeBF16.RowBytes(5); n != 10 || err != nil {
		t.Errorf("BF16 RowBytes(5) = %d, %v", n, err)
	}
	if _, err := TypeQ8_0.RowBytes(33); err == nil {
		t.Errorf("Q8_0 RowBytes(33) succeeded")
	}
	if _, err := Type(16).RowBytes(256); err == nil || !strings.Contains(err.Error(), "unsupported tensor type IQ2_XXS") {
		t.Errorf("IQ2_XXS RowBytes: %v", err)
	}
	if n, err := TypeQ4_K.RowBytes(512); n != 288 || err != nil {
		t.Errorf("Q4_K RowBytes(512) = %d, %v", n, err)
	}
	if _, err := TypeQ6_K.RowBytes(288); err == nil {
		t.Errorf("Q6_K RowBytes(288) succeeded")
	}
	if ValueFloat64.String() != "float64" || ValueType(13).String() != "ValueType(13)" {
		t.Errorf("ValueType names: %v %v", ValueFloat64, ValueType(13))
	}
}

// TestWriteFileFailureKeepsOld checks that a failed WriteFile leaves the file
// it would have replaced as it was, with no temporary file beside it.
func TestWriteFileFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.gguf")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	w := NewWriter()
	w.AddKV("bad", Value{}) // WriteTo fails on it
	if err := w.WriteFile(path); err == nil {
		t.Fatal("WriteFile of an invalid value succeeded")
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "old" {
		t.Errorf("after a failed WriteFile the file holds %q, %v; want \"old\"", b, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("directory holds %d entries after a failed WriteFile, want 1", len(ents))
	}
}

// TestRoundTripNewTypes writes every type added for issue #11 that can be
// encoded and reads it back: the data must be exactly what the kernels'
// quantizer and dequantizer give, and Q2_K/Q3_K tensors written as raw bytes
// must decode as the kernels' dequantizers do.
func TestRoundTripNewTypes(t *testing.T) {
	src := make([]float32, 512)
	for i := range src {
		src[i] = float32(math.Sin(float64(i))) * float32(i%7+1)
	}
	w := NewWriter()
	w.AddKV("general.architecture", StringValue("test"))
	type codec struct {
		typ Type
		q   func([]byte, []float32)
		d   func([]float32, []byte)
	}
	encodable := []codec{
		{TypeQ4_1, kernels.QuantizeQ4_1, kernels.DequantizeQ4_1},
		{TypeQ5_0, kernels.QuantizeQ5_0, kernels.DequantizeQ5_0},
		{TypeQ5_1, kernels.QuantizeQ5_1, kernels.DequantizeQ5_1},
		{TypeQ4_K, kernels.QuantizeQ4_K, kernels.DequantizeQ4_K},
		{TypeQ5_K, kernels.QuantizeQ5_K, kernels.DequantizeQ5_K},
		{TypeQ6_K, kernels.QuantizeQ6_K, kernels.DequantizeQ6_K},
	}
	for _, c := range encodable {
		if err := w.AddFloat32Tensor("t."+c.typ.String(), c.typ, []uint64{256, 2}, src); err != nil {
			t.Fatal(err)
		}
	}
	raw := map[Type][]byte{TypeQ2_K: make([]byte, 2*84), TypeQ3_K: make([]byte, 2*110)}
	for typ, b := range raw {
		for i := range b {
			b[i] = byte(i * 37)
		}
		b[len(b)/2-2], b[len(b)/2-1], b[len(b)-2], b[len(b)-1] = 0, 0x30, 0, 0x30 // d (and dmin) 0.125
		if typ == TypeQ2_K {
			b[80], b[81], b[82], b[83] = 0, 0x30, 0, 0x30
			b[84+80], b[84+81], b[84+82], b[84+83] = 0, 0x30, 0, 0x30
		}
		if err := w.AddTensor("t."+typ.String(), typ, []uint64{512}, b); err != nil {
			t.Fatal(err)
		}
	}
	f := writeParse(t, w)
	for _, c := range encodable {
		n, _ := c.typ.RowBytes(512)
		q := make([]byte, n)
		c.q(q, src)
		want := make([]float32, 512)
		c.d(want, q)
		got, err := f.Float32Tensor("t." + c.typ.String())
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%v: read back differs from the kernels' quantize+dequantize", c.typ)
		}
	}
	for typ, d := range map[Type]func([]float32, []byte){TypeQ2_K: kernels.DequantizeQ2_K, TypeQ3_K: kernels.DequantizeQ3_K} {
		want := make([]float32, 512)
		d(want, raw[typ])
		got, err := f.Float32Tensor("t." + typ.String())
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%v: Float32Tensor differs from the kernels' dequantizer", typ)
		}
	}
}
