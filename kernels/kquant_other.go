//go:build !amd64 || purego

package kernels

// Builds without assembly never call these (useAVX2 is false).

func dotQ4_KAVX2(w []byte, x []float32) float32 { panic(noAsm) }
func dotQ6_KAVX2(w []byte, x []float32) float32 { panic(noAsm) }
