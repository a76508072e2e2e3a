package kvcache

import "github.com/thinkv/thinkv/kernels"

// A codec stores rows of float32 values in the bytes of one DType and runs
// attention's two inner loops on them. There is one codec per type; rows
// holds its data as bytes and calls the codec, so nothing else branches on
// the type.
type codec interface {
	// rowBytes returns the bytes of one row of width values.
	rowBytes(width int) int
	// encode stores x (one row) into dst[:rowBytes(len(x))].
	encode(dst []byte, x []float32)
	// decode writes the row stored in src into dst (its width values).
	decode(dst []float32, src []byte)
	// prepare readies q's rows for dots, once per attention call; buf is
	// scratch the codec may grow and keep (see Scratch).
	prepare(q *queries, buf *[]float32)
	// dots sets dst[j·ldd+i] = scale·(row i · query j) for the rows stored
	// in data (each q.width wide) and the m queries of q.
	dots(dst []float32, ldd int, data []byte, q *queries, scale float32)
	// accum adds Σᵢ p[j·ldp+i]·(row i) to out[j·ldo:j·ldo+width] for the m
	// outputs j and the rows stored in data, each width wide; tmp is
	// scratch the codec may grow and keep.
	accum(out []float32, ldo int, p []float32, ldp, m int, data []byte, width int, tmp *[]float32)
}

// queries is m query rows of width values, row j at f[j·width:], in the form
// a codec's dots takes them once prepared.
type queries struct {
	f        []float32
	m, width int
	q8       kernels.Acts // blocked codecs: the rows as Q8 blocks (see prepare)
}

// grown returns (*buf)[:n], reallocating *buf first if it is shorter.
func grown(buf *[]float32, n int) []float32 {
	if len(*buf) < n {
		*buf = make([]float32, n)
	}
	return (*buf)[:n]
}

// f32Codec stores float32 values as they are (4 bytes each).
type f32Codec struct{}

func (f32Codec) rowBytes(width int) int           { return 4 * width }
func (f32Codec) encode(dst []byte, x []float32)   { copy(kernels.BytesF32(dst[:4*len(x)]), x) }
func (f32Codec) decode(dst []float32, src []byte) { copy(dst, kernels.BytesF32(src)) }
func (f32Codec) prepare(*queries, *[]float32)     {}

func (f32Codec) dots(dst []float32, ldd int, data []byte, q *queries, scale float32) {
	kernels.AttnDotsF32(dst, ldd, kernels.BytesF32(data), q.f[:q.m*q.width], q.width, scale)
}

func (f32Codec) accum(out []float32, ldo int, p []float32, ldp, m int, data []byte, width int, _ *[]float32) {
	kernels.AttnAccumF32(out, ldo, p, ldp, m, kernels.BytesF32(data), width)
}

// f16Codec stores values as IEEE half floats (2 bytes each), rounded to
// nearest even.
type f16Codec struct{}

func (f16Codec) rowBytes(width int) int { return 2 * width }
func (f16Codec) encode(dst []byte, x []float32) {
	kernels.F32sToF16s(kernels.BytesU16(dst[:2*len(x)]), x)
}
func (f16Codec) decode(dst []float32, src []byte) { kernels.F16sToF32s(dst, kernels.BytesU16(src)) }
func (f16Codec) prepare(*queries, *[]float32)     {}

func (f16Codec) dots(dst []float32, ldd int, data []byte, q *queries, scale float32) {
	kernels.AttnDotsF16(dst, ldd, kernels.BytesU16(data), q.f[:q.m*q.width], q.width, scale)
}

func (f16Codec) accum(out []float32, ldo int, p []float32, ldp, m int, data []byte, width int, _ *[]float32) {
	kernels.AttnAccumF16(out, ldo, p, ldp, m, kernels.BytesU16(data), width)
}
