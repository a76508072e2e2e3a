package kernels

// Fast dequantization of KV-cache rows: the results of DequantizeQ8_0 and
// DequantizeQ4_0 bit for bit (each element is a small integer times an f16
// scale, a product float32 holds exactly, so every path rounds nothing),
// with AVX2 on amd64.

// KVDequantizeQ8_0 is DequantizeQ8_0 (the same checks and results) with an
// AVX2 path: for value rows read once per attention step.
func KVDequantizeQ8_0(dst []float32, src []byte) {
	checkBlocks("KVDequantizeQ8_0", len(dst), QK8_0, BlockBytesQ8_0, len(src))
	if useAVX2 && len(dst) > 0 {
		kvDequantQ8_0AVX2(dst, src)
		return
	}
	DequantizeQ8_0(dst, src)
}

// KVDequantizeQ4_0 is DequantizeQ4_0 (the same checks and results) with an
// AVX2 path.
func KVDequantizeQ4_0(dst []float32, src []byte) {
	checkBlocks("KVDequantizeQ4_0", len(dst), QK4_0, BlockBytesQ4_0, len(src))
	if useAVX2 && len(dst) > 0 {
		kvDequantQ4_0AVX2(dst, src)
		return
	}
	DequantizeQ4_0(dst, src)
}
