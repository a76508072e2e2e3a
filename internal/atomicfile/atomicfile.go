// Package atomicfile writes files so that a reader, or a crash, never sees
// half of one: the data goes to a temporary file in the destination's
// directory, is synced, and only then renamed over the destination. A failed
// write (disk full, a file size limit) leaves whatever was there before.
package atomicfile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// File is a write in progress. Commit publishes it; Abort (or a Commit that
// fails) removes the temporary file and leaves the destination untouched.
type File struct {
	*os.File
	path string
	done bool
}

// Create starts writing path. The temporary file is made with mode perm
// in the same directory, so that the final rename does not cross file systems.
func Create(path string, perm os.FileMode) (*File, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return &File{File: f, path: path}, nil
}

// Commit syncs the data to disk, closes the file and renames it to its
// destination.
func (f *File) Commit() error {
	if f.done {
		return fmt.Errorf("atomicfile: %s already committed or aborted", f.path)
	}
	f.done = true
	err := f.Sync()
	if cerr := f.File.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), f.path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("writing %s: %w", f.path, err)
	}
	syncDir(filepath.Dir(f.path))
	return nil
}

// Abort discards the write; it is a no-op after Commit or Abort, so it can be
// deferred.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.File.Close()
	os.Remove(f.Name())
}

// Write writes path through fn, atomically: fn's writer is the temporary
// file, and an error from fn or from writing leaves path as it was.
func Write(path string, perm os.FileMode, fn func(w io.Writer) error) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := fn(f); err != nil {
		return err
	}
	return f.Commit()
}

// WriteFile is os.WriteFile, atomically.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// syncDir makes a rename durable; file systems that cannot sync a directory
// are not an error.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
