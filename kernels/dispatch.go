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

// useAVX512 selects the AVX-512 attention kernels (attn512_amd64.s), which
// need AVX512F and AVX512VL besides AVX2; like useAVX2 it is set once by
// init.
var useAVX512 bool

// useGeneric forces the plain-Go kernels when on is true, or restores the
// start-up choice when it is false. It lets one test binary exercise both
// paths; it must not be called while kernels run on other goroutines.
func useGeneric(on bool) {
	useAVX2 = !on && detectAVX2()
	useVNNI = !on && detectVNNI()
	useAVX512 = !on && detectAVX512()
}

// useTier forces the kernels to tier "generic" (plain Go), "avx2" (no
// AVX-512 kernel), "avx512" (the AVX-512 attention kernels but not the VNNI
// products) or "vnni" (the start-up choice on a VNNI CPU), or returns
// false, changing nothing, where the build or CPU lacks it.
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
		useVNNI, useAVX512 = false, false
		return true
	case "avx512":
		if !detectAVX512() {
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

// Tier names the kernels in use: "generic" (plain Go), or "avx2" (Go
// assembly with AVX2, FMA and F16C) followed by "+avx512" where the
// attention kernels use AVX-512 and "+vnni" where the quantized-activation
// products use AVX-512 VNNI, e.g. "avx2+avx512+vnni".
func Tier() string {
	if !useAVX2 {
		return "generic"
	}
	t := "avx2"
	if useAVX512 {
		t += "+avx512"
	}
	if useVNNI {
		t += "+vnni"
	}
	return t
}
