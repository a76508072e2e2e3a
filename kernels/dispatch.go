package kernels

// Kernel dispatch.
//
// Each hot kernel exists twice: a plain-Go version (named *Generic), which
// builds everywhere and is the reference, and, on amd64, a Go-assembly
// version. The exported function checks its arguments and then calls the
// assembly version when the CPU supports it, else the Go one. The choice is
// made once, at package initialisation, from golang.org/x/sys/cpu (see
// dispatch_amd64.go); every later call costs one predictable branch.
//
// Building with the purego tag, or for any other architecture, leaves out
// the assembly (dispatch_other.go) so that the Go versions always run.
// On amd64 the assembly can also be switched off at run time through the
// GODEBUG settings that x/sys/cpu reads, e.g. GODEBUG=cpu.avx2=off.

// useAVX2 selects the AVX2 kernels, which also use FMA and F16C. It is set
// once by init where the CPU supports them and is false elsewhere; only
// tests change it afterwards (useGeneric).
var useAVX2 bool

// useVNNI selects the AVX-512 VNNI tile kernels of the quantized-activation
// products (q8act.go), which need AVX512F/VL/BW and AVX512VNNI besides
// AVX2; like useAVX2 it is set once by init.
var useVNNI bool

// useGeneric forces the plain-Go kernels when on is true, or restores the
// start-up choice when it is false. It lets one test binary exercise both
// paths; it must not be called while kernels run on other goroutines.
func useGeneric(on bool) {
	useAVX2 = !on && detectAVX2()
	useVNNI = !on && detectVNNI()
}

// useTier forces the quantized-activation products to tier "generic",
// "avx2" or "vnni", or returns false, changing nothing, where the build or
// CPU lacks it; "generic" also switches every other kernel to plain Go.
// Like useGeneric it is for tests, and useGeneric(false) restores the
// start-up choice.
func useTier(name string) bool {
	switch name {
	case "generic":
		useGeneric(true)
		return true
	case "avx2":
		if !detectAVX2() {
			return false
		}
		useGeneric(false)
		useVNNI = false
		return true
	case "vnni":
		if !detectVNNI() {
			return false
		}
		useGeneric(false)
		return true
	}
	return false
}

// Tier names the kernels in use: "avx2+vnni" (AVX2 kernels, and AVX-512
// VNNI ones for the quantized-activation products), "avx2" (Go assembly
// with AVX2, FMA and F16C) or "generic" (plain Go).
func Tier() string {
	if useVNNI {
		return "avx2+vnni"
	}
	if useAVX2 {
		return "avx2"
	}
	return "generic"
}
