//go:build unix

// Package mmap maps files read-only into memory (reading them whole where
// the system has no mmap), for the model file readers.
package mmap

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

// Map maps the named file read-only and returns its bytes and a function
// that unmaps them (nil for an empty file).
func Map(path string) ([]byte, func() error, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer fd.Close() // the mapping outlives the descriptor
	fi, err := fd.Stat()
	if err != nil {
		return nil, nil, err
	}
	size := fi.Size()
	switch {
	case !fi.Mode().IsRegular():
		return nil, nil, fmt.Errorf("mmap: %s: not a regular file", path)
	case size == 0:
		return []byte{}, nil, nil // nothing to map; Parse reports the short file
	case size != int64(int(size)) || size < 0:
		return nil, nil, fmt.Errorf("mmap: %s: size %d is too large to map", path, size)
	}
	data, err := syscall.Mmap(int(fd.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, &os.PathError{Op: "mmap", Path: path, Err: err}
	}
	return data, func() error { return syscall.Munmap(data) }, nil
}

// Release tells the system that the mapped bytes b (part of a mapping Map
// returned) will not be read soon: the whole pages inside b leave the
// process's resident memory, and a later read maps them in again from the
// file. The contents never change, so this only trades memory for the cost
// of reading again. Bytes not from Map must never be passed.
func Release(b []byte) {
	page := uintptr(syscall.Getpagesize())
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	lo := (start + page - 1) &^ (page - 1)
	hi := (start + uintptr(len(b))) &^ (page - 1)
	if hi <= lo {
		return
	}
	syscall.Madvise(b[lo-start:hi-start], syscall.MADV_DONTNEED) // advice: a refusal keeps the pages
}
