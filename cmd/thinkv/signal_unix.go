//go:build unix

package main

import (
	"os/signal"
	"syscall"
)

// ignoreFileSizeSignal makes a write past the file size limit (ulimit -f)
// fail with an error, which the atomic writers clean up after, instead of
// killing the process and leaving a temporary file behind.
func ignoreFileSizeSignal() { signal.Ignore(syscall.SIGXFSZ) }
