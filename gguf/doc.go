// Package gguf reads and writes GGUF model files, the container format of
// llama.cpp and ggml.
//
// It owns the on-disk format: the header, the typed metadata key/value
// pairs, the tensor directory and the aligned tensor data section. [Open]
// memory-maps a file read-only and [Parse] reads one from memory; both check
// every count, length, shape, type and offset against the bytes actually
// present, so hostile or truncated input yields an error, never a panic or an
// outsized allocation. Tensor data is returned as zero-copy slices of the
// mapping ([File.TensorData]) or dequantized to float32
// ([File.Float32Tensor]). A [Writer] produces GGUF version 3 files for tests
// and converters.
//
// Versions 2 and 3 are read (they differ from each other only in details this
// package does not depend on); version 1, which used 32-bit counts, and
// big-endian files are rejected. Tensor shapes follow ggml: Shape[0] is the
// fastest-varying dimension, so a row-major matrix with r rows of c columns
// has Shape {c, r}. Only the tensor types F32, F16, BF16, Q8_0 and Q4_0 are
// supported; a file holding any other type is rejected by [Open] and [Parse].
package gguf
