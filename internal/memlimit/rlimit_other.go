//go:build !linux

package memlimit

// addressSpace reads no address-space limit outside Linux.
func addressSpace() (Limit, bool) { return Limit{}, false }
