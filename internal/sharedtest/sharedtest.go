// Package sharedtest finds the project's shared test data (../shared, or
// $THINKV_SHARED) for tests: it skips a test when the data is absent on a
// developer machine and fails it in CI, where the data must be present.
package sharedtest

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Dir returns the shared data directory.
func Dir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("THINKV_SHARED")
	if dir == "" {
		_, file, _, _ := runtime.Caller(0)
		dir = filepath.Join(filepath.Dir(file), "..", "..", "..", "shared")
	}
	if _, err := os.Stat(filepath.Join(dir, "README.md")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("shared test data not found at %s (set THINKV_SHARED): %v", dir, err)
		}
		t.Skipf("shared test data not found at %s (set THINKV_SHARED); skipping", dir)
	}
	return dir
}

// Path returns the path of a file under the shared data directory.
func Path(t testing.TB, elem ...string) string {
	t.Helper()
	return filepath.Join(append([]string{Dir(t)}, elem...)...)
}
