package main

import (
	"bytes"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thinkv/thinkv/chat"
	"github.com/thinkv/thinkv/engine"
	"github.com/thinkv/thinkv/internal/sharedtest"
)

// chatInput makes the chat read in from a pipe-like reader and take its
// Ctrl-C from sig, for the rest of the test.
func chatInput(t *testing.T, in io.Reader, sig chan os.Signal) {
	oldIn, oldTerm, oldInt := stdin, stdinIsTerminal, interrupts
	stdin, stdinIsTerminal = in, func() bool { return false }
	interrupts = func() (<-chan os.Signal, func()) { return sig, func() {} }
	t.Cleanup(func() { stdin, stdinIsTerminal, interrupts = oldIn, oldTerm, oldInt })
}

// TestChatTurns drives two turns, /stats, /reset and a third turn through
// a pipe: each answer is engine.Generate's greedy text for the conversation
// rendered so far, and /reset forgets it.
func TestChatTurns(t *testing.T) {
	model := sharedtest.Dir(t) + "/models/stories260K/stories260K.gguf"
	chatInput(t, strings.NewReader("Hello there\nTell me a story\n/stats\n/reset\nHello there\n"), make(chan os.Signal, 1))
	out, errOut, code := thinkv(t, "chat", "-m", model, "--ctx", "512", "--chat-template", "chatml", "--temp", "0", "-n", "24", "--threads", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	e, err := engine.Load(model, "", 512)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	tmpl, err := chat.Builtin("chatml")
	if err != nil {
		t.Fatal(err)
	}
	var msgs []chat.Message
	var answers []string
	for _, q := range []string{"Hello there", "Tell me a story"} {
		msgs = append(msgs, chat.Message{Role: "user", Content: q})
		ids, err := chat.EncodePrompt(e.Tok, tmpl, msgs, true)
		if err != nil {
			t.Fatal(err)
		}
		res, err := e.Generate(engine.Request{Prompt: ids, MaxNew: 24})
		if err != nil {
			t.Fatal(err)
		}
		a := e.Tok.Decode(res.Tokens)
		if a == "" {
			t.Fatalf("turn %q: empty answer", q)
		}
		answers = append(answers, a)
		msgs = append(msgs, chat.Message{Role: "assistant", Content: a})
	}
	want := answers[0] + "\n" + answers[1] + "\n"
	if !strings.HasPrefix(out, want) {
		t.Errorf("output:\n%s\nwant it to start with:\n%s", out, want)
	}
	rest := strings.TrimPrefix(out, want)
	if !strings.HasPrefix(rest, "stats: KV cache ") || !strings.Contains(rest, " generated; ") {
		t.Errorf("no stats line after the answers:\n%s", rest)
	}
	if !strings.HasSuffix(out, "(conversation cleared)\n"+answers[0]+"\n") {
		t.Errorf("after /reset the first answer should come again:\n%s", out)
	}
}

// stopAtFirst is a stdout that presses Ctrl-C at the first text written.
type stopAtFirst struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	sig  chan os.Signal
	once sync.Once
}

func (w *stopAtFirst) Write(p []byte) (int, error) {
	w.once.Do(func() { w.sig <- os.Interrupt })
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *stopAtFirst) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestChatInterrupt: Ctrl-C during an answer stops it, not the chat; at
// the prompt it ends the chat.
func TestChatInterrupt(t *testing.T) {
	model := sharedtest.Dir(t) + "/models/stories260K/stories260K.gguf"
	sig := make(chan os.Signal, 1)
	inR, inW := io.Pipe()
	defer inW.Close()
	chatInput(t, inR, sig)
	go func() { io.WriteString(inW, "Once upon a time\n/stats\n") }()
	out := &stopAtFirst{sig: sig}
	done := make(chan int)
	go func() {
		done <- run([]string{"chat", "-m", model, "--ctx", "512", "--temp", "0", "--threads", "2"}, out, io.Discard)
	}()
	// The answer is stopped (the full one runs to the context); then
	// /stats answers, and a second Ctrl-C at the prompt ends the chat.
	for !strings.Contains(out.String(), "stats:") {
		select {
		case code := <-done:
			t.Fatalf("exit %d before /stats: %q", code, out.String())
		default:
		}
		time.Sleep(10 * time.Millisecond)
	}
	sig <- os.Interrupt
	if code := <-done; code != 0 {
		t.Errorf("exit %d", code)
	}
	if !strings.Contains(out.String(), " [stopped]\n") {
		t.Errorf("the answer was not stopped: %q", out.String())
	}
}

func TestChatUsage(t *testing.T) {
	for _, args := range [][]string{{"chat", "--bogus"}, {"chat"}, {"chat", "-m", "x", "--temp", "hot"}} {
		if _, errOut, code := thinkv(t, args...); code != 2 {
			t.Errorf("%q: exit %d, want 2 (%s)", args, code, errOut)
		}
	}
}
