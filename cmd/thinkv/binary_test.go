package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/thinkv/thinkv/internal/sharedtest"
)

var built struct {
	once sync.Once
	dir  string
	exe  string
	err  error
	out  []byte
}

// buildThinkv builds the command once per test process, for tests of what
// only the real binary shows (signals, resource limits), and returns its path.
func buildThinkv(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	built.once.Do(func() {
		goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
		if p, err := exec.LookPath("go"); err == nil {
			goTool = p
		}
		if built.dir, built.err = os.MkdirTemp("", "thinkv-test"); built.err != nil {
			return
		}
		built.exe = filepath.Join(built.dir, "thinkv")
		built.out, built.err = exec.Command(goTool, "build", "-o", built.exe, ".").CombinedOutput()
	})
	if built.err != nil {
		t.Fatalf("go build: %v\n%s", built.err, built.out)
	}
	return built.exe
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// TestHugeContextUnderMemoryLimit checks the case: a huge --ctx and
// -n under a memory limit is refused with both numbers before anything is
// printed, never a runtime crash; and --ctx is a limit, not an allocation,
// so a short generation under the same limit runs.
func TestHugeContextUnderMemoryLimit(t *testing.T) {
	exe := buildThinkv(t)
	model := sharedtest.Path(t, "models", "needle", "needle.gguf")
	run := func(args string) (string, string, int) {
		cmd := exec.Command("sh", "-c", `ulimit -v 3000000; exec "$0" generate -m "$1" -p "The best thing about the city is" --temp 0 `+args, exe, model)
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		cmd.Run()
		return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
	}
	out, errOut, code := run("--ctx 1e9 -n 10000000")
	if code != 1 || out != "" || !strings.Contains(errOut, "this sequence needs about") || !strings.Contains(errOut, "is available") ||
		!strings.Contains(errOut, "lower --ctx or -n") || strings.Contains(errOut, "fatal error") {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and the clear refusal", code, out, errOut)
	}
	out, errOut, code = run("--ctx 1e9 -n 8")
	if code != 0 || !strings.HasPrefix(out, "The best thing about the city is") {
		t.Errorf("-n 8 at --ctx 1e9: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
