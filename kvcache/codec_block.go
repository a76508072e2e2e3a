package kvcache

import "github.com/thinkv/thinkv/kernels"

// blockCodec stores values in GGUF's 32-value blocks, each an f16 scale d
// and 32 quants, exactly block_q8_0 (34 bytes: int8 q, value q·d) or
// block_q4_0 (18 bytes: nibbles n, value (n−8)·d), quantized by ggml's
// reference rules (kernels.QuantizeQ8_0, QuantizeQ4_0). A row of width
// values takes ⌈width/32⌉ blocks, the last padded with zeros: a head
// dimension below 32 (stories260K's 8) or a pruned width that is not a
// multiple of 32 costs whole blocks anyway (which is why ThinK rounds its
// kept channels up to whole blocks for these types).
//
// Keys are scored with integer dots: each query is quantized once per
// attention call to Q8 blocks (kernels.QuantizeActsPadded), and a span of
// key rows is a small Q8_0 or Q4_0 matrix times those rows
// (kernels.KVDots), so the cost scales with the stored channels and bits.
// Values are weighted as they are converted in registers (kernels.KVAccum),
// or, for a width that is not whole blocks, dequantized a span of rows at a
// time and weighted by the float kernel: either way the output equals
// attention with the same weights over the dequantized rows, bit for bit.
type blockCodec struct {
	typ        kernels.DType // Q8_0 or Q4_0
	blockBytes int
}

var (
	q8_0Codec = &blockCodec{kernels.Q8_0, kernels.BlockBytesQ8_0}
	q4_0Codec = &blockCodec{kernels.Q4_0, kernels.BlockBytesQ4_0}
)

// quantize and dequantize convert whole blocks with the block type's
// kernels. They are called directly, not through function values, so that
// the compiler sees that the padded blocks below stay on the stack.
func (c *blockCodec) quantize(dst []byte, src []float32) {
	if c.typ == kernels.Q8_0 {
		kernels.QuantizeQ8_0(dst, src)
	} else {
		kernels.QuantizeQ4_0(dst, src)
	}
}

func (c *blockCodec) dequantize(dst []float32, src []byte) {
	if c.typ == kernels.Q8_0 {
		kernels.KVDequantizeQ8_0(dst, src)
	} else {
		kernels.KVDequantizeQ4_0(dst, src)
	}
}

// qk is the values per block of both block types.
const qk = kernels.QK8_0

func (c *blockCodec) rowBytes(width int) int { return (width + qk - 1) / qk * c.blockBytes }

func (c *blockCodec) encode(dst []byte, x []float32) {
	full := len(x) / qk
	c.quantize(dst[:full*c.blockBytes], x[:full*qk])
	if rest := x[full*qk:]; len(rest) > 0 {
		var pad [qk]float32
		copy(pad[:], rest)
		c.quantize(dst[full*c.blockBytes:(full+1)*c.blockBytes], pad[:])
	}
}

func (c *blockCodec) decode(dst []float32, src []byte) {
	full := len(dst) / qk
	if full > 0 {
		c.dequantize(dst[:full*qk], src[:full*c.blockBytes])
	}
	if rest := dst[full*qk:]; len(rest) > 0 {
		var pad [qk]float32
		c.dequantize(pad[:], src[full*c.blockBytes:(full+1)*c.blockBytes])
		copy(rest, pad[:])
	}
}

func (c *blockCodec) prepare(q *queries, buf *[]float32) {
	words := kernels.ActsWords(q.m, kernels.PaddedCols(q.width))
	q.q8 = kernels.QuantizeActsPadded(grown(buf, words), q.f, q.m, q.width)
}

func (c *blockCodec) dots(dst []float32, ldd int, data []byte, q *queries, scale float32) {
	kernels.KVDots(c.typ, dst, ldd, data, &q.q8)
	n := len(data) / c.rowBytes(q.width)
	for j := 0; j < q.m; j++ {
		kernels.Scale(dst[j*ldd:j*ldd+n], scale)
	}
}

func (c *blockCodec) accum(out []float32, ldo int, p []float32, ldp, m int, data []byte, width int, tmp *[]float32) {
	if width%qk == 0 {
		kernels.KVAccum(c.typ, out, ldo, p, ldp, m, data, width)
		return
	}
	// A partial last block: the rows dequantized, without their padding.
	rb := c.rowBytes(width)
	n := len(data) / rb
	v := grown(tmp, n*width)
	for i := 0; i < n; i++ {
		c.decode(v[i*width:(i+1)*width], data[i*rb:(i+1)*rb])
	}
	kernels.AttnAccumF32(out, ldo, p, ldp, m, v, width)
}
