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

// useGeneric forces the plain-Go kernels when on is true, or restores the
// start-up choice when it is false. It lets one test binary exercise both
// paths; it must not be called while kernels run on other goroutines.
func useGeneric(on bool) {
	useAVX2 = !on && detectAVX2()
}

// Tier names the kernels in use: "avx2" (Go assembly with AVX2, FMA and
// F16C) or "generic" (plain Go).
func Tier() string {
	if useAVX2 {
		return "avx2"
	}
	return "generic"
}
