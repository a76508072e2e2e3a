// Package kernels owns thinkv's numeric hot loops: dot products, matrix-vector
// and matrix-matrix products over f32, f16 and ggml-quantized (Q8_0, Q4_0) weights,
// RMSNorm, softmax, SiLU, half-precision conversion, and the worker pool that
// spreads a product over the machine's cores.
//
// Everything works on flat slices; nothing here allocates on the hot path.
package kernels
