package tokenizer

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// StreamDecoder decodes generated tokens one at a time into text to show as
// it comes (see NewStreamDecoder). It is not safe for concurrent use.
type StreamDecoder struct {
	t       *Tokenizer
	stops   []string
	started bool   // a token has produced text (Decode's dummy-prefix rule)
	raw     []byte // the bytes of an incomplete UTF-8 sequence at the end
	held    []byte // valid UTF-8 held back: it may start a stop string
	stop    string // the stop string found
	done    bool   // a stop string was found, or Flush was called
}

// NewStreamDecoder returns a decoder for a stream of generated tokens, with
// optional stop strings (empty ones are ignored).
//
// Each Add returns the text that token completes, always valid UTF-8: the
// bytes of a character split over byte-fallback or byte-level tokens are
// held back until the character is whole. Bytes that cannot form a
// character become U+FFFD, one per byte, as utf8.DecodeRune reads them. The
// pieces, with Flush's at the end, add up to Decode of the ids (with
// invalid bytes so replaced) when no stop string occurs.
//
// With stop strings, text that may be the start of a stop string is held
// back too. When a stop string is completed (the one that starts first, if
// several complete with one token), Add returns the text before it and
// reports the stop; the stop string and anything after it are never
// returned, and the decoder takes no more tokens (Stop tells which stop
// string it was).
func (t *Tokenizer) NewStreamDecoder(stops ...string) *StreamDecoder {
	d := &StreamDecoder{t: t}
	for _, s := range stops {
		if s != "" {
			d.stops = append(d.stops, s)
		}
	}
	return d
}

// Add decodes one more token. It returns the text now ready to show, and
// whether a stop string was found (now or before: a stopped decoder
// returns "" for every token).
func (d *StreamDecoder) Add(id int) (text string, stopped bool) {
	if d.done {
		return "", d.stop != ""
	}
	t := d.t
	if id < 0 || id >= len(t.text) || t.text[id] == "" {
		return "", false
	}
	s := t.text[id]
	if !d.started {
		d.started = true
		if t.addSpacePrefix && t.types[id] != Byte {
			s = strings.TrimPrefix(s, " ")
		}
	}
	d.raw = append(d.raw, s...)
	d.decodeRaw(false)
	return d.release(false)
}

// Flush ends the stream: it returns the text held back, and whether a stop
// string was found (an incomplete character at the end, turned into U+FFFD,
// can complete one). After Flush the decoder takes no more tokens.
func (d *StreamDecoder) Flush() (text string, stopped bool) {
	if d.done {
		return "", d.stop != ""
	}
	d.decodeRaw(true)
	text, stopped = d.release(true)
	d.done = true
	return text, stopped
}

// Stop returns the stop string found, or "".
func (d *StreamDecoder) Stop() string { return d.stop }

// Reset makes the decoder start a new stream with the same stop strings.
func (d *StreamDecoder) Reset() {
	d.started, d.done, d.stop = false, false, ""
	d.raw, d.held = d.raw[:0], d.held[:0]
}

// Continue marks the stream as the continuation of a text already begun
// (a prompt), so that its first token keeps its leading space, as
// Tokenizer.Piece keeps it after any token but BOS. Call it before Add.
func (d *StreamDecoder) Continue() { d.started = true }

// decodeRaw moves the whole characters at the start of raw to held,
// invalid bytes as U+FFFD; at the end of the stream, all of raw.
func (d *StreamDecoder) decodeRaw(end bool) {
	i := 0
	for i < len(d.raw) && (end || utf8.FullRune(d.raw[i:])) {
		r, n := utf8.DecodeRune(d.raw[i:])
		if r == utf8.RuneError && n == 1 {
			d.held = utf8.AppendRune(d.held, utf8.RuneError)
		} else {
			d.held = append(d.held, d.raw[i:i+n]...)
		}
		i += n
	}
	d.raw = d.raw[:copy(d.raw, d.raw[i:])]
}

// release returns the held text up to a stop string found in it, or all of
// it but the longest end that begins a stop string (at the end of the
// stream, all of it).
//
// Every stop string that starts in text already returned would have been
// held back, so the held text is the only place a stop string can start.
func (d *StreamDecoder) release(end bool) (string, bool) {
	first := -1
	for _, s := range d.stops {
		if j := bytes.Index(d.held, []byte(s)); j >= 0 && (first < 0 || j < first) {
			first, d.stop = j, s
		}
	}
	if first >= 0 {
		text := string(d.held[:first])
		d.held, d.raw, d.done = d.held[:0], d.raw[:0], true
		return text, true
	}
	keep := 0
	if !end {
		for _, s := range d.stops {
			for k := min(len(s)-1, len(d.held)); k > keep; k-- {
				if bytes.HasSuffix(d.held, []byte(s[:k])) {
					keep = k
					break
				}
			}
		}
	}
	n := len(d.held) - keep
	for n > 0 && n < len(d.held) && !utf8.RuneStart(d.held[n]) {
		n-- // a stop string that starts inside a character
	}
	if n == 0 {
		return "", false
	}
	text := string(d.held[:n])
	d.held = d.held[:copy(d.held, d.held[n:])]
	return text, false
}
