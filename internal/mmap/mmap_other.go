//go:build !unix

// Package mmap maps files read-only into memory (reading them whole where
// the system has no mmap), for the model file readers.
package mmap

import "os"

// Map reads the named file into memory, for systems where this package
// does not memory-map files; the unmap function is nil.
func Map(path string) ([]byte, func() error, error) {
	data, err := os.ReadFile(path)
	return data, nil, err
}

// Release does nothing here: the bytes Map returns are an ordinary copy.
func Release(b []byte) {}
