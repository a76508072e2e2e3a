//go:build !unix

package gguf

import "os"

// mapFile reads the named file into memory, for systems where this package
// does not memory-map files.
func mapFile(path string) ([]byte, func() error, error) {
	data, err := os.ReadFile(path)
	return data, nil, err
}
