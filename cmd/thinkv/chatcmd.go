package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"strings"

	"github.com/thinkv/thinkv/chat"
	"github.com/thinkv/thinkv/engine"
	"github.com/thinkv/thinkv/kvcache"
	"github.com/thinkv/thinkv/press"
	"github.com/thinkv/thinkv/server"
)

const chatSynopsis = "-m MODEL [--system TEXT] [--press SPEC] [-n N] [--temp T] [--chat-template NAME|FILE] [flags]"

// interrupts delivers Ctrl-C (SIGINT) to a chat until stop is called;
// tests replace it.
var interrupts = func() (c <-chan os.Signal, stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt)
	return ch, func() { signal.Stop(ch) }
}

// chatSession is an interactive conversation. Each turn renders the whole
// history with the chat template and runs it from an empty cache: the KV
// cache is rebuilt per turn, not kept.
type chatSession struct {
	e      *engine.Engine
	tmpl   *chat.Template // nil: server.RenderFallback
	stops  []string       // stop strings of every answer
	system string
	msgs   []chat.Message
	maxNew int // -1: until the end of the turn or the context
	samp   engine.Sampling
	typ    kvcache.DType
	press  string
	out    *bufio.Writer
	last   *engine.Usage // the last answer's, for /stats
}

func runChat(args []string, stdout io.Writer) error {
	fs := newFlags("chat", chatSynopsis)
	var mf modelFlags
	mf.register(fs)
	system := fs.String("system", "", "system message that opens the conversation (and reopens it after /reset)")
	var n, topK, seed int
	var temp, topP float64
	fs.intVar(&n, "n", -1, -1, maxCtx, "most tokens per answer (-1: until the end of the turn or the context)")
	fs.floatVar(&temp, "temp", 0.7, 0, 100, "sampling temperature (0: greedy)")
	fs.intVar(&topK, "top-k", 0, 0, 1<<31-1, "sample from the k most likely tokens only (0: all)")
	fs.floatVar(&topP, "top-p", 0.9, 1e-9, 1, "nucleus sampling threshold in (0, 1] (1: off)")
	fs.intVar(&seed, "seed", -1, -1, 1<<62, "random seed of the first answer, each answer taking the next (-1: a random one)")
	kvType := fs.String("kv-type", "f16", kvTypeHelp)
	pf := &pressFlag{spec: "none"}
	fs.Var(pf, "press", "cache compression of every answer (see thinkv presses)")
	tmplFlag := fs.String("chat-template", "", "chat template: a built-in name ("+strings.Join(chat.Builtins(), ", ")+"), a template file, or \"fallback\" (role: content lines); default: the model's own, else fallback")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := mf.check(); err != nil {
		return err
	}
	typ, _, err := fs.cacheFlags(*kvType, pf.spec)
	if err != nil {
		return err
	}
	if seed < 0 {
		seed = int(rand.Int64N(1 << 62))
	}
	e, err := mf.load()
	if err != nil {
		return err
	}
	defer e.Close()
	tmpl, err := chatTemplate(e, mf.path, *tmplFlag)
	if err != nil {
		return err
	}
	c := &chatSession{e: e, tmpl: tmpl, system: *system, maxNew: n, typ: typ, press: pf.spec,
		samp: engine.Sampling{Temp: temp, TopK: topK, TopP: topP, Seed: uint64(seed)}, out: bufio.NewWriter(stdout)}
	if tmpl == nil {
		c.stops = []string{"\nuser:"} // the fallback's next turn
	}
	c.reset()
	defer c.out.Flush()
	return c.loop()
}

// loop reads user turns, one line each, until /quit, the end of the input,
// or Ctrl-C at the prompt.
func (c *chatSession) loop() error {
	sig, stop := interrupts()
	defer stop()
	tty := stdinIsTerminal()
	if tty {
		fmt.Fprintln(errOut, "thinkv chat: /reset clears the conversation, /stats reports the last answer, /quit or Ctrl-D ends; Ctrl-C stops an answer")
	}
	lines := readLines(stdin)
	for {
		if tty {
			c.out.WriteString("> ")
		}
		c.out.Flush()
		var line string
		var ok bool
		select {
		case line, ok = <-lines:
		case <-sig:
			c.out.WriteString("\n")
			return nil
		}
		if !ok {
			return nil
		}
		switch line = strings.TrimSpace(line); line {
		case "":
		case "/quit", "/exit":
			return nil
		case "/reset":
			c.reset()
			c.out.WriteString("(conversation cleared)\n")
		case "/stats":
			c.stats()
		default:
			if strings.HasPrefix(line, "/") && !strings.HasPrefix(line, "//") {
				c.out.WriteString("commands: /reset, /stats, /quit (start a message with // to send a /)\n")
				continue
			}
			if err := c.turn(strings.TrimPrefix(line, "/"), sig); err != nil {
				return err
			}
		}
	}
}

// readLines sends r's lines, without their line ends, and closes the
// channel at the end of the input.
func readLines(r io.Reader) <-chan string {
	ch := make(chan string)
	go func() {
		defer close(ch)
		br := bufio.NewReader(r)
		for {
			line, err := br.ReadString('\n')
			if line != "" {
				ch <- strings.TrimRight(line, "\r\n")
			}
			if err != nil {
				return
			}
		}
	}()
	return ch
}

// reset clears the conversation, keeping the system message.
func (c *chatSession) reset() {
	c.msgs = c.msgs[:0]
	if c.system != "" {
		c.msgs = append(c.msgs, chat.Message{Role: "system", Content: c.system})
	}
}

// prompt renders and encodes the conversation, the assistant to speak.
func (c *chatSession) prompt() ([]int, error) {
	tok := c.e.Tok
	if c.tmpl == nil {
		return tok.Encode(server.RenderFallback(c.msgs), tok.AddBOS()), nil
	}
	return chat.EncodePrompt(tok, c.tmpl, c.msgs, true)
}

// turn adds the user's message and streams the answer. A message the
// context cannot take is reported and dropped; Ctrl-C ends the answer
// early, which stays in the history as far as it got.
func (c *chatSession) turn(text string, sig <-chan os.Signal) error {
	c.msgs = append(c.msgs, chat.Message{Role: "user", Content: text})
	ids, err := c.prompt()
	maxNew := c.maxNew
	if maxNew < 0 {
		maxNew = max(0, c.e.Model.Context-len(ids)+1)
	}
	if err == nil {
		err = c.e.Check(len(ids), maxNew, c.typ)
	}
	if err != nil {
		c.msgs = c.msgs[:len(c.msgs)-1]
		fmt.Fprintf(errOut, "thinkv chat: %v (the message is dropped; /reset starts over)\n", err)
		return nil
	}
	p, _ := press.Parse(c.press) // a fresh press per answer: presses keep state
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-sig:
			cancel()
		case <-done:
		}
	}()
	answer, u, err := c.answer(ctx, engine.Request{Prompt: ids, MaxNew: maxNew, Sampling: c.samp, KVType: c.typ, Press: p})
	c.samp.Seed++
	if err != nil {
		return err
	}
	c.last = u
	if ctx.Err() != nil {
		c.out.WriteString(" [stopped]")
	}
	c.out.WriteString("\n")
	c.msgs = append(c.msgs, chat.Message{Role: "assistant", Content: answer})
	return nil
}

// answer runs req as engine.Generate does (a scheduler of its own) and
// writes its text through a tokenizer.StreamDecoder as it comes: valid
// UTF-8, without the end-of-turn tokens and stop strings.
func (c *chatSession) answer(ctx context.Context, req engine.Request) (string, *engine.Usage, error) {
	s := c.e.NewScheduler(engine.SchedulerConfig{MaxSeqs: 1, TokenBudget: min(engine.PrefillBatch, len(req.Prompt))})
	defer s.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := s.Submit(ctx, req)
	if err != nil {
		return "", nil, err
	}
	tok := c.e.Tok
	dec := tok.NewStreamDecoder(c.stops...)
	var b strings.Builder
	write := func(text string) {
		b.WriteString(text)
		c.out.WriteString(text)
		c.out.Flush()
	}
	for {
		ev, ok := st.Next()
		if !ok {
			return "", nil, errors.New("engine: stream ended without a final event")
		}
		if ev.Done {
			if ev.Stop == engine.StopError {
				return "", nil, ev.Err
			}
			text, _ := dec.Flush()
			write(text)
			return b.String(), &ev.Usage, nil
		}
		if tok.IsEOG(ev.Token) || ev.Token == tok.BOS() {
			continue
		}
		text, stop := dec.Add(ev.Token)
		write(text)
		if stop {
			cancel()
		}
	}
}

// stats prints the last answer's KV-cache bytes, tokens and speed.
func (c *chatSession) stats() {
	u := c.last
	if u == nil {
		c.out.WriteString("stats: no answer yet\n")
		return
	}
	pct := 0.0
	if u.KVBytesFull > 0 {
		pct = 100 * float64(u.KVBytes) / float64(u.KVBytesFull)
	}
	rate := 0.0
	if u.Decode > 0 {
		rate = float64(u.DecodeSteps) / u.Decode.Seconds()
	}
	fmt.Fprintf(c.out, "stats: KV cache %d bytes held of %d full (%.0f%%, press %s); %d prompt tokens, %d generated; %.1f tok/s\n",
		u.KVBytes, u.KVBytesFull, pct, c.press, u.PromptTokens, u.Tokens, rate)
}
