//go:build race

package model

// The race detector's instrumentation allocates, and its sync.Pool drops
// buffers on purpose: allocation counts mean nothing under it.
func init() { raceEnabled = true }
