package kernels

import "math"

// Dot returns the dot product of a and b over len(a) elements.
func Dot(a, b []float32) float32 {
	b = b[:len(a)]
	if useAVX2 {
		return dotAVX2(a, b)
	}
	return dotGeneric(a, b)
}

// dotGeneric is Dot in plain Go; len(b) >= len(a).
func dotGeneric(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// Axpy adds a*x to y element-wise over len(y) elements.
func Axpy(y []float32, a float32, x []float32) {
	x = x[:len(y)]
	if useAVX2 {
		axpyAVX2(y, a, x)
		return
	}
	axpyGeneric(y, a, x)
}

// axpyGeneric is Axpy in plain Go; len(x) >= len(y).
func axpyGeneric(y []float32, a float32, x []float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] += a * x[i]
	}
}

// AxpyF16 adds a*x to y element-wise, where x holds IEEE half floats.
func AxpyF16(y []float32, a float32, x []uint16) {
	x = x[:len(y)]
	if useAVX2 {
		axpyF16AVX2(y, a, x)
		return
	}
	axpyF16Generic(y, a, x)
}

// axpyF16Generic is AxpyF16 in plain Go; len(x) >= len(y).
func axpyF16Generic(y []float32, a float32, x []uint16) {
	x = x[:len(y)]
	t := f16Table
	for i := range y {
		y[i] += a * t[x[i]]
	}
}

// RMSNorm writes x normalised by its root mean square and scaled by w into out.
// out and x may alias.
func RMSNorm(out, x, w []float32, eps float32) {
	var ss float32
	for _, v := range x {
		ss += v * v
	}
	ss /= float32(len(x))
	ss += eps
	inv := float32(1 / math.Sqrt(float64(ss)))
	for i := range x {
		out[i] = w[i] * (inv * x[i])
	}
}

// Softmax replaces x by softmax(x) in place and returns the log of the normaliser
// (max + log sum exp), which callers use to merge partial softmaxes.
func Softmax(x []float32) float32 {
	if len(x) == 0 {
		return float32(math.Inf(-1))
	}
	max := x[0]
	for _, v := range x[1:] {
		if v > max {
			max = v
		}
	}
	var sum float32
	for i, v := range x {
		e := float32(math.Exp(float64(v - max)))
		x[i] = e
		sum += e
	}
	inv := 1 / sum
	for i := range x {
		x[i] *= inv
	}
	return max + float32(math.Log(float64(sum)))
}

// Add adds x to y element-wise.
func Add(y, x []float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] += x[i]
	}
}
